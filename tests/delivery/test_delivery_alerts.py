"""Deadline Alerts and the overdue-submission check: the DAGs carry Airflow's
DeadlineAlert (serialized like the scheduler sees it), the callback records the alert,
and a submission open too long is reported once. Real PostgreSQL and Airflow's own
serializer; the firing itself (scheduler → triggerer) is Airflow's and not re-tested."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from delivery_helpers import bsns, rows_for
from test_delivery_dags import _dag


def _alerts(world, action: str) -> list[dict]:
    rows = world.db.execute("SELECT submission_id, details FROM audit_log WHERE action = %s ORDER BY id",
                            (action,)).fetchall()
    world.db.commit()
    return rows


def test_dags_carry_their_deadline_alerts(monkeypatch):
    monkeypatch.setenv("BBX_DEADLINE_ALERTS", "1")
    from airflow.sdk.definitions.deadline import DagRunLogicalDateDeadline, DagRunQueuedAtDeadline
    from airflow.serialization.serialized_objects import DagSerialization

    refresh = _dag("bbx_register_refresh")
    (alert,) = refresh.deadline if isinstance(refresh.deadline, list) else [refresh.deadline]
    assert isinstance(alert.reference, DagRunLogicalDateDeadline) and alert.interval == timedelta(hours=4)
    assert refresh.timetable.expression == "0 5 * * *"  # 05:00 Europe/Amsterdam + 4 h = 09:00
    assert str(refresh.timetable.timezone) in ("Europe/Amsterdam", "Timezone('Europe/Amsterdam')")
    assert alert.callback.path == "bbx.alerts.deadline_missed"
    for dag_id in ("bbx_deliver", "bbx_redeliver"):
        dag = _dag(dag_id)
        (alert,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
        assert isinstance(alert.reference, DagRunQueuedAtDeadline) and alert.interval == timedelta(hours=24)
        assert DagSerialization.to_dict(dag)  # the scheduler's form of the DAG, deadline included


def test_deadline_callback_records_the_alert(world):
    from bbx.alerts import deadline_missed

    context = {"dag_run": {"dag_id": "bbx_register_refresh", "dag_run_id": "scheduled__2026-12-01T04:00:00+00:00"},
               "deadline": {"id": "x", "deadline_time": "2026-12-01T08:00:00+00:00"}}
    asyncio.run(deadline_missed(context, name="register_refresh_late", message="register refresh not applied by 09:00"))
    (row,) = _alerts(world, "alert.register_refresh_late")
    assert row["details"]["dag_id"] == "bbx_register_refresh"
    assert row["details"]["run_id"] == "scheduled__2026-12-01T04:00:00+00:00"
    assert "not applied by 09:00" in row["details"]["message"]


def test_a_submission_open_too_long_is_reported_once(world):
    from bbx.delivery.sweep import report_overdue

    numbers = bsns(2, seed=151)
    old = world.submit("voorbeeld", "PASPRT", rows_for(numbers), channel="api")
    new = world.submit("voorbeeld", "PASPRT", rows_for(numbers), channel="api")
    world.db.execute("UPDATE submissions SET received_at = now() - interval '25 hours' WHERE id = %s", (old,))
    world.db.commit()
    assert report_overdue(hours=24, url=world.url) == [old]
    assert report_overdue(hours=24, url=world.url) == []  # once, not every 10 minutes
    (row,) = _alerts(world, "alert.submission_open_too_long")
    assert row["submission_id"] == old and f"submission {old}" in row["details"]["message"]
    assert new != old
