# BBX — the two commands: `make demo` (the main job) and `make test` (the suite).
# Both set up what they need (virtualenv, packages, databases) and are safe to re-run.

VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.bbx-installed
DROP   ?=
CONNECTION ?= voorbeeld

.PHONY: demo test lint setup airflow-standalone clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m bbx.demo $(if $(DROP),--drop "$(DROP)" --connection "$(CONNECTION)",)

test: $(STAMP)
	bash scripts/test.sh

lint: $(STAMP)
	$(BIN)/ruff check .

airflow-standalone: $(STAMP)
	bash scripts/airflow-standalone.sh

clean:
	rm -rf $(VENV) airflow_home demo-out
