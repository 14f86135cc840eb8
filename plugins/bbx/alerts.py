"""Alerts for operators: what Airflow's Deadline Alerts and BBX's own checks report.

Every alert lands in one place: an ERROR in the log (where the deployment's log alerting
looks) and an ``alert.<name>`` entry in BBX's audit log (kept, queryable). The Deadline
Alert callback runs in the triggerer (``AsyncCallback``), so the blocking database write
runs in a thread.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

ACTOR = "bbx-alerts"


def record(name: str, message: str, details: dict | None = None, *, submission_id: int | None = None,
           url: str | None = None) -> None:
    """Log and audit one alert."""
    from bbx.store import audit, db

    log.error("ALERT %s: %s", name, message)
    with db.transaction(url) as conn:
        audit.record(conn, actor=ACTOR, action=f"alert.{name}", submission_id=submission_id,
                     details={"message": message, **(details or {})})


async def deadline_missed(context: dict[str, Any] | None = None, *, name: str, message: str) -> None:
    """Airflow Deadline Alert callback (``AsyncCallback``): a DAG run missed its deadline."""
    from asgiref.sync import sync_to_async

    context = context or {}
    dag_run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    details = {"dag_id": dag_run.get("dag_id"), "run_id": dag_run.get("dag_run_id") or dag_run.get("run_id"),
               "deadline_time": str(deadline.get("deadline_time"))}
    await sync_to_async(record)(name, f"{message} (run {details['run_id']})", details)
