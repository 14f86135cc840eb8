"""Parse-time help for ``dags/bbx_ingest.py``: which connections get an ingest DAG.

The DAG file is parsed often by the DAG processor, so this must be quick and must never
raise: when BBX's database cannot be reached (or is not migrated yet) it logs ONE clear
warning and returns no connections, so the processor keeps running and the DAGs appear
at the next parse once the database is back.
"""

from __future__ import annotations

import logging

log = logging.getLogger("bbx.intake.dags")

PARSE_CONNECT_TIMEOUT_SECONDS = 5


def connections_for_dags() -> list[dict]:
    """Active connections as ``{code, name, tenant_code, sftp_folder}``, or [] with a warning."""
    try:
        from bbx.store import administration, db

        with db.connect(connect_timeout=PARSE_CONNECT_TIMEOUT_SECONDS) as conn:
            rows = administration.active_connections(conn)
    except Exception as exc:  # never crash the DAG processor
        log.warning(
            "bbx_ingest: no ingest DAGs generated, BBX's database could not be read (%s: %s). "
            "Check BBX_DATABASE_URL / the bbx_db connection and run 'bbx db init' and 'bbx config apply'.",
            type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        )
        return []
    return [
        {"code": r["code"], "name": r["name"], "tenant_code": r["tenant_code"], "sftp_folder": r["sftp_folder"]}
        for r in rows
    ]
