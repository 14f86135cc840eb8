#!/usr/bin/env bash
# Create the project's virtualenv and install the pinned requirements plus bbx (editable).
# Needs only Python 3.11 and the package registry; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON=$candidate; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "BBX needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip uv
# requirements.txt is the full pinned lock (our constraint set; Airflow's constraint
# files live on GitHub, which is out of reach here).
.venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements.txt
.venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
echo "virtualenv ready: $(.venv/bin/python --version), airflow $(.venv/bin/python -c 'import airflow; print(airflow.__version__)' 2>/dev/null)"
