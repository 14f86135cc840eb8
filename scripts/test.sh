#!/usr/bin/env bash
# The test command (`make test`; CI runs exactly this through .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/ensure-chromium.sh; then
  if [ "${BBX_SKIP_BROWSER:-}" != 1 ]; then
    echo "chromium is needed for the browser tests (or set BBX_SKIP_BROWSER=1 to leave them out)" >&2
    exit 1
  fi
  echo "BBX_SKIP_BROWSER=1: browser tests left out" >&2
fi
.venv/bin/ruff check .
# known vulnerabilities in the lock fail the run; an unreachable advisory service fails it too
.venv/bin/python scripts/audit_deps.py
# the 25 slowest tests at the end: where the suite's time goes (it must stay well under 20 min)
exec .venv/bin/python -m pytest --durations=25 "$@"
