"""BBX's Airflow Deadline Alerts (a deadline is per DAG run; see docs/delivery.md).

* ``REGISTER_APPLIED_BY_9`` — ``bbx_register_refresh`` runs at 05:00 Europe/Amsterdam
  (its logical date); a run not finished 4 hours later means the day's register was not
  applied by 09:00, when the day's bulk sends need it. (DST switches happen at 02:00/03:00,
  so 05:00 + 4 h is 09:00 local every day.)
* ``delivery_run_open(hours)`` — a ``bbx_deliver``/``bbx_redeliver`` run still running
  ``hours`` after it was queued: its submissions are open that long.

``BBX_DEADLINE_ALERTS=0`` leaves them off: Airflow 3.3.2's ``dag.test()`` cannot finish a
run of a DAG with a DeadlineAlert (``DagRun.update_state`` looks the in-memory alerts up
as database ids, ``models/dagrun.py:1269``), so the tests that run DAGs in-process set it;
the scheduler path (alerts stored in ``deadline_alert`` by the dag-processor) is fine.

Submissions outside a running delivery run (its wait gave up, or they wait for results
collected by ``bbx_collect_results``) have no DAG run a deadline could hang on: the
``overdue_submissions`` check in ``bbx_collect_results`` reports those, through the same
alert (``bbx.alerts``).
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

from bbx.alerts import deadline_missed

# A submission open longer than this is reported (env BBX_SUBMISSION_OPEN_HOURS).
SUBMISSION_OPEN_HOURS = float(os.environ.get("BBX_SUBMISSION_OPEN_HOURS", "24"))

def enabled() -> bool:
    return os.environ.get("BBX_DEADLINE_ALERTS", "1") != "0"


def when_enabled(*alerts: DeadlineAlert) -> list[DeadlineAlert] | None:
    """The ``deadline=`` of a DAG (read when the DAG file is parsed)."""
    return list(alerts) if enabled() else None


REGISTER_APPLIED_BY_9 = DeadlineAlert(
    reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
    interval=timedelta(hours=4),
    callback=AsyncCallback(deadline_missed, kwargs={
        "name": "register_refresh_late",
        "message": "register refresh not applied by 09:00 Europe/Amsterdam: bulk sends wait for it",
    }),
    name="register applied by 09:00",
)


def delivery_run_open(hours: float = SUBMISSION_OPEN_HOURS) -> DeadlineAlert:
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=hours),
        callback=AsyncCallback(deadline_missed, kwargs={
            "name": "submission_open_too_long",
            "message": f"a delivery run (and its submissions) is open longer than {hours:g} hours",
        }),
        name=f"delivery open < {hours:g} h",
    )
