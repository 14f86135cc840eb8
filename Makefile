# BBX — the two commands: `make demo` (the main job) and `make test` (the suite).
# Both set up what they need (virtualenv, packages, databases) and are safe to re-run.

VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.bbx-installed
DROP   ?=
CONNECTION ?= voorbeeld
EXECUTOR ?= local
WORKERS ?= default,berichtenbox,berichtenbox

.PHONY: demo stack stop status test lint bench setup airflow-standalone clean messages tour

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m bbx.demo $(if $(DROP),--drop "$(DROP)" --connection "$(CONNECTION)",)

# the platform alone (no demo data): `make stack EXECUTOR=celery` adds Redis as the broker and
# one Celery worker per entry of WORKERS (its queue; '+' joins queues); see docs/operations.md
stack: $(STAMP)
	$(BIN)/python -m bbx.stack start --executor $(EXECUTOR) --workers "$(WORKERS)"

# stops every service `make demo` started (whole sessions: no LocalExecutor worker left)
stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m bbx.stack stop; fi

status: $(STAMP)
	$(BIN)/python -m bbx.stack status

test: $(STAMP)
	bash scripts/test.sh

lint: $(STAMP)
	$(BIN)/ruff check .

# issue 17: every stage benchmark beside its own baseline, one table (bench/run_all.py);
# `make bench QUICK=1` a tenth of the sizes, `ONLY=intake,register` some stages
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(if $(QUICK),--quick,) $(if $(ONLY),--only $(ONLY),)

# replaced by `make demo`, which starts the platform (api-server, scheduler, dag-processor,
# triggerer) and leaves it running; `airflow standalone` would compete for the same port
# and metadata database
airflow-standalone:
	@echo "make demo starts the platform and leaves it running (UI address and sign-in at its end); make stop stops it"

clean: stop
	rm -rf $(VENV) airflow_home demo-out

# re-extract the tenant-facing texts (_("...") in plugins/bbx and its templates) and update
# the Dutch and English catalogues (plugins/bbx/locale/*/LC_MESSAGES/bbx.po); see bbx/i18n.py
messages: $(STAMP)
	$(BIN)/python -m bbx.i18n_catalogues

# issue 18's features checked on the RUNNING demo stack (after `make demo`, same BBX_API_PORT):
# one line per feature x channel, exit 0 only when all pass (plugins/bbx/demo/tour.py)
tour: $(STAMP)
	$(BIN)/python -m bbx.demo.tour
