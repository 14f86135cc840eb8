#!/usr/bin/env bash
# Airflow's all-in-one dev server on the project's home (airflow_home/), dags/ and plugins/,
# with the same database as `make demo`. UI at http://localhost:8080 (the admin password
# is printed at start and kept in airflow_home/simple_auth_manager_passwords.json.generated).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/bbx db init
eval "$(.venv/bin/bbx env)"
export PATH="$PWD/.venv/bin:$PATH"
exec airflow standalone
