"""Where BBX finds its database, keys and folders. One place for every setting.

Database location, in order (see README):
1. ``BBX_DATABASE_URL`` when set;
2. the Airflow Connection ``bbx_db`` when given as ``AIRFLOW_CONN_BBX_DB`` (as in tasks);
3. the PostgreSQL server on 127.0.0.1:5432 when one answers (database ``bbx``);
4. otherwise an embedded PostgreSQL (pip ``pgserver``) under ``data/pg``.
``BBX_DATABASE=embedded`` skips step 3 (use the embedded server even where one runs).
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


@lru_cache(maxsize=1)
def database_url() -> str:
    """The libpq URL of BBX's own database (see the module docstring for the order)."""
    if url := os.environ.get("BBX_DATABASE_URL"):
        return _normalise(url)
    if url := os.environ.get("AIRFLOW_CONN_BBX_DB"):
        return _normalise(url)
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
