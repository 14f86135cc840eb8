"""Where BBX finds its database, keys and folders. One place for every setting.

Database location, in order (see README and docs/operations.md):
1. ``BBX_DATABASE_URL`` when set (tests, benches, one-off commands);
2. the Airflow Connection ``bbx_db``, through ``BaseHook.get_connection`` — so an
   ``AIRFLOW_CONN_BBX_DB`` variable, the metadata database (``bbx airflow setup``) and a
   secrets backend all work. Asked whenever this process runs inside Airflow or is
   configured for it (``AIRFLOW_HOME`` / ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` set);
3. in a deployment (``BBX_ENV=production``, set in docker-compose.yaml) nothing else: a
   missing ``bbx_db`` is an error that says so (:class:`DatabaseNotConfigured`);
4. development and the demo only: the PostgreSQL server on 127.0.0.1:5432 when one
   answers (database ``bbx``), otherwise an embedded PostgreSQL (pip ``pgserver``) under
   ``data/pg``. ``BBX_DATABASE=embedded`` skips the local server.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("BBX_DATA_DIR", PROJECT_ROOT / "data"))
SQL_DIR = PROJECT_ROOT / "include" / "sql"
SCHEMAS_DIR = PROJECT_ROOT / "include" / "schemas"
SAMPLE_CONFIG = PROJECT_ROOT / "config" / "sample" / "tenants.yaml"  # the demo's tenants
LOCAL_SERVER = ("127.0.0.1", 5432)
DEFAULT_DB_NAME = "bbx"
BBX_SCHEMA = "bbx"


def _server_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _normalise(url: str) -> str:
    """Accept SQLAlchemy/Airflow style URLs (``postgresql+psycopg2://``, ``postgres://``)."""
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


BBX_DB_CONN_ID = "bbx_db"


class DatabaseNotConfigured(RuntimeError):
    """A deployment without the ``bbx_db`` connection (never a silent fallback)."""


def deployment() -> bool:
    """True in a deployment (``BBX_ENV=production``): no development fallbacks."""
    return os.environ.get("BBX_ENV", "").strip().lower() in ("production", "prod")


def _in_airflow() -> bool:
    import sys

    return "airflow" in sys.modules or any(
        os.environ.get(k) for k in ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_CONN_BBX_DB"))


def _from_airflow() -> str | None:
    """``bbx_db`` as Airflow resolves it (environment, metadata DB, secrets backend).

    In a task (and the dag-processor) the Task SDK's ``BaseHook.get_connection`` asks the
    supervisor; elsewhere — the api-server, the ``bbx`` command — Airflow's own
    ``Connection.get_connection_from_secrets`` walks the configured backends, the metadata
    database included (the Task SDK alone only reads environment variables there)."""
    import sys

    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        if hasattr(sys.modules.get("airflow.sdk.execution_time.task_runner"), "SUPERVISOR_COMMS"):
            from airflow.sdk import BaseHook

            conn = BaseHook.get_connection(BBX_DB_CONN_ID)
        else:
            from airflow.exceptions import AirflowNotFoundException as CoreNotFound
            from airflow.models.connection import Connection

            try:
                conn = Connection.get_connection_from_secrets(BBX_DB_CONN_ID)
            except CoreNotFound:
                return None
    except AirflowNotFoundException:
        return None
    return _normalise(conn.get_uri())


@lru_cache(maxsize=1)
def database_url() -> str:
    """The libpq URL of BBX's own database (see the module docstring for the order)."""
    if url := os.environ.get("BBX_DATABASE_URL"):
        return _normalise(url)
    if deployment() or _in_airflow():
        if url := _from_airflow():
            return url
    if deployment():
        raise DatabaseNotConfigured(
            f"BBX_ENV=production but Airflow has no connection {BBX_DB_CONN_ID!r}: create it (Admin → "
            f"Connections, type postgres; or `bbx airflow setup --database-url URL`; or the variable "
            f"AIRFLOW_CONN_{BBX_DB_CONN_ID.upper()}, or your secrets backend). A deployment never "
            "falls back to a local or embedded database.")
    if os.environ.get("BBX_DATABASE") != "embedded" and _server_answers(*LOCAL_SERVER):
        return f"postgresql://postgres@{LOCAL_SERVER[0]}:{LOCAL_SERVER[1]}/{DEFAULT_DB_NAME}"
    return embedded_server_url(DEFAULT_DB_NAME)


def embedded_server_url(database: str) -> str:
    """Start (or attach to) the embedded PostgreSQL under ``data/pg`` and return a URL."""
    import pgserver  # only needed on machines without a PostgreSQL server

    # data/ is git-ignored: a fresh clone has none, and pgserver wants the parent of pgdata
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Run as root, pgserver creates its system user with `useradd` (in /usr/sbin), which a
    # minimal PATH (cron, systemd, `env -i`) lacks: without it only machines where the user
    # was left over by an earlier run would work.
    path = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join(path + [d for d in ("/usr/sbin", "/sbin") if d not in path])
    # cleanup_mode=None: the server outlives this process, so the scheduler, the tasks and
    # the next `make demo` attach to the same one
    server = pgserver.get_server(DATA_DIR / "pg", cleanup_mode=None)
    base = server.get_uri()  # postgresql://postgres:@/postgres?host=/path/to/socket
    return base.replace("/postgres?", f"/{database}?", 1)


def encryption_key_file() -> Path:
    return Path(os.environ.get("BBX_KEY_FILE", DATA_DIR / "keys" / "bbx-content.key"))
