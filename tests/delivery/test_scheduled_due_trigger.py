"""A scheduled submission starts when its ``send_at`` comes, not on ``bbx_deliver``'s
5-minute timer (issue 18): the asset watcher's trigger (real PostgreSQL) announces a due
submission once, leaves held and future ones alone and reports one that does not start;
Airflow (real metadata database) turns its event into a queued ``bbx_deliver`` run."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from delivery_helpers import bsns, rows_for

from bbx.domain.localtime import TIMEZONE
from bbx.triggers.scheduled import LATE_ALERT, ScheduledSendsDueTrigger

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _scheduled(world, seed: int, send_at: datetime) -> int:
    numbers = bsns(2, seed=seed)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers))
    # stored as set_schedule would store a moment asked earlier (check() turns a past one into "now")
    world.db.execute("UPDATE submissions SET send_at = %s WHERE id = %s", (send_at, sid))
    world.db.commit()
    return sid


async def _events(trigger: ScheduledSendsDueTrigger, count: int) -> list[dict]:
    found = []
    run = trigger.run()
    async for event in run:
        found.append(event.payload)
        if len(found) == count:
            break
    await run.aclose()
    return found


def test_a_due_submission_is_announced_once_and_one_that_does_not_start_is_reported(world):
    soon = datetime.now(TIMEZONE) + timedelta(seconds=2)
    sid = _scheduled(world, 611, soon)
    _later = _scheduled(world, 612, datetime.now(TIMEZONE) + timedelta(days=1))
    held = _scheduled(world, 613, datetime.now(TIMEZONE) - timedelta(minutes=1))
    world.db.execute("UPDATE submissions SET delivery_held = 'register_stale' WHERE id = %s", (held,))
    world.db.commit()

    other = _scheduled(world, 614, soon + timedelta(seconds=2))
    trigger = ScheduledSendsDueTrigger(poll_interval=0.2, late_after=0)
    # one event per moment: the polls after the first did not announce it again
    first, second = asyncio.run(_events(trigger, 2))
    assert datetime.now(TIMEZONE) >= soon + timedelta(seconds=2)
    assert first == {"submission_ids": [sid], "connections": ["voorbeeld"]}
    assert second == {"submission_ids": [other], "connections": ["voorbeeld"]}

    [again] = asyncio.run(_events(trigger, 1))  # a new run (a triggerer restart) announces what is still due
    assert set(again["submission_ids"]) == {sid, other}  # never the future or the held one

    alerts = world.db.execute("SELECT submission_id, details FROM audit_log WHERE action = %s ORDER BY id",
                              (f"alert.{LATE_ALERT}",)).fetchall()
    world.db.commit()
    assert {a["submission_id"] for a in alerts} == {sid, other}
    assert "has not started" in alerts[0]["details"]["message"]


def test_the_watcher_event_queues_a_bbx_deliver_run(world, airflow_db):
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.models.trigger import Trigger
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from bbx.assets import SCHEDULED_SENDS_DUE
    from bbx.triggers.scheduled import CLASSPATH

    bag = DagBag(dag_folder=str(DAGS / "bbx_deliver.py"))
    assert bag.import_errors == {}
    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    sync_bag_to_db(bag, "dags-folder", None)
    sid = _scheduled(world, 615, datetime.now(TIMEZONE) - timedelta(seconds=1))
    payload = asyncio.run(_events(ScheduledSendsDueTrigger(poll_interval=0.2), 1))[0]
    assert sid in payload["submission_ids"]

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.uri == SCHEDULED_SENDS_DUE.uri))
        [trigger] = [t for t in asset.triggers if t.classpath == CLASSPATH]
        Trigger.submit_event(trigger.id, TriggerEvent(payload), session=session)
    with create_session() as session:
        event = session.scalar(select(AssetEvent).where(AssetEvent.asset_id == asset.id))
        assert event.extra["payload"]["submission_ids"] == payload["submission_ids"]
        queued = session.scalars(select(AssetDagRunQueue.target_dag_id)
                                 .where(AssetDagRunQueue.asset_id == asset.id)).all()
    assert queued == ["bbx_deliver"]
