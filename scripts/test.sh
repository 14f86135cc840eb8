#!/usr/bin/env bash
# The test command (`make test`; CI runs exactly this through .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-chromium.sh || echo "chromium not available: browser tests will be skipped" >&2
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
