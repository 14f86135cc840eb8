"""The Airflow environment of this project: home, folders, metadata DB, connections.

One place for it, used by ``bbx env`` (for the Makefile and people), the tests, the
demo's stack (``bbx.stack``), so every way of running Airflow here sees the same settings.
"""

from __future__ import annotations

from pathlib import Path

from bbx import settings
from bbx.store.db import sibling_url

AIRFLOW_HOME = settings.PROJECT_ROOT / "airflow_home"
AIRFLOW_DB_NAME = "bbx_airflow"
# People sign in to Airflow with their BBX account (issue 14; bbx/auth_manager.py says why).
AUTH_MANAGER = "bbx.auth_manager.BbxAuthManager"


def metadata_url(bbx_url: str) -> str:
    """Airflow's metadata database: a sibling database of BBX's on the same server."""
    return sibling_url(bbx_url, AIRFLOW_DB_NAME)


def environment(bbx_url: str | None = None, *, airflow_home: Path | None = None, metadata: str | None = None,
                with_bbx_db: bool = True) -> dict[str, str]:
    """``with_bbx_db=False`` (the stack): ``bbx_db`` is a Connection in the metadata
    database (``bbx airflow setup``), not an environment variable."""
    bbx_url = bbx_url or settings.database_url()
    meta = (metadata or metadata_url(bbx_url)).replace("postgresql://", "postgresql+psycopg2://", 1)
    env = {
        "AIRFLOW_HOME": str(airflow_home or AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # a loaded 2-core machine took 42 s to import bbx_ingest.py (its connections' DAGs):
        # over Airflow's 30 s default the file's DAGs vanish instead of being slow
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
    }
    if with_bbx_db:
        env.update({"AIRFLOW_CONN_BBX_DB": bbx_url, "BBX_DATABASE_URL": bbx_url})
    return env
