"""``ScheduledSendsDueTrigger`` — start a scheduled send when its ``send_at`` comes, not on
``bbx_deliver``'s 5-minute timer.

An Airflow 3 event-driven schedule: the trigger watches the asset
``bbx://submissions/scheduled-due`` (an ``AssetWatcher``) and runs for as long as a DAG is
scheduled on that asset, in the triggerer. Every ``poll_interval`` seconds it asks BBX's
database for scheduled submissions that are due and not yet taken by a delivery run; each
one seen for the first time is announced once with a ``TriggerEvent``, which Airflow turns
into an asset event, which starts a ``bbx_deliver`` run (the planner then takes every due
submission, as on the timer). A send due at 10:01 thus starts at about 10:01:15.

Honest about what did not start: a submission due for ``late_after`` seconds and still not
taken (``bbx_deliver`` paused, its runs failing, the scheduler down) is reported once as the
alert ``scheduled_send_late`` (log ERROR and audit, :mod:`bbx.alerts`). A held submission is
no such case: it waits for a person under *Required actions*. The timer stays as the
fallback when the triggerer itself is down. The announced ids are kept in memory: after a
triggerer restart a submission still due is announced (and, if late, reported) once more,
which is harmless (a run that finds nothing to take does nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

CLASSPATH = "bbx.triggers.scheduled.ScheduledSendsDueTrigger"
LATE_ALERT = "scheduled_send_late"


class ScheduledSendsDueTrigger(BaseEventTrigger):
    def __init__(self, *, poll_interval: float = 15.0, late_after: float = 180.0) -> None:
        super().__init__()
        self.poll_interval = float(poll_interval)
        self.late_after = float(late_after)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {"poll_interval": self.poll_interval, "late_after": self.late_after}

    # blocking parts, run in a thread ---------------------------------------------------
    @staticmethod
    def _due() -> list[dict]:
        from bbx.store import db, waiting

        with db.connect() as conn:
            return [dict(r) for r in waiting.scheduled_due(conn)]

    @staticmethod
    def _report_late(row: dict) -> None:
        from bbx import alerts

        alerts.record(LATE_ALERT,
                      f"scheduled submission {row['id']} ({row['connection_code']}) was due at "
                      f"{row['send_at']:%Y-%m-%d %H:%M:%S %Z} and has not started after "
                      f"{row['due_seconds'] / 60:.0f} minutes: is bbx_deliver paused or failing?",
                      {"send_at": row["send_at"].isoformat()}, submission_id=row["id"])

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        announced: set[int] = set()
        reported: set[int] = set()
        while True:
            try:
                due = await sync_to_async(self._due)()
            except Exception as exc:  # the database away for a while: the watch goes on
                self.log.warning("scheduled sends: %s: %s; polling on", type(exc).__name__, exc)
                await asyncio.sleep(self.poll_interval)
                continue
            ids = {r["id"] for r in due}
            new = [r for r in due if r["id"] not in announced]
            for row in due:
                if row["due_seconds"] >= self.late_after and row["id"] not in reported:
                    try:
                        await sync_to_async(self._report_late)(row)
                        reported.add(row["id"])
                    except Exception as exc:
                        self.log.warning("could not report late submission %s: %s", row["id"], exc)
            if new:
                yield TriggerEvent({"submission_ids": [r["id"] for r in new],
                                    "connections": sorted({r["connection_code"] for r in new})})
            announced = (announced & ids) | {r["id"] for r in new}
            reported &= ids
            await asyncio.sleep(self.poll_interval)
