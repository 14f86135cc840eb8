"""The sweep for messages stuck in ``sent`` (DAG ``bbx_sweep_stuck``).

Per submission with messages acknowledged more than ``stuck_minutes`` ago and no
result: those sent ``max_sends`` times fail (``GeenResultaat``, an operator is told);
the others go out again with the same BerichtIDs through bbx_redeliver's path
(``plan.plan_redelivery`` with ``include_stuck``). Rule: ``bbx.domain.sweep``.
"""

from __future__ import annotations

import logging

from bbx.delivery import config
from bbx.delivery.plan import plan_redelivery
from bbx.domain.delivery import plan_slices
from bbx.domain.outcomes import Outcome
from bbx.domain.sweep import stuck_decision
from bbx.store import batches as batch_store
from bbx.store import db
from bbx.store import sweep as store

log = logging.getLogger(__name__)


def sweep_stuck(run_id: str, *, stuck_minutes: int | None = None, max_sends: int | None = None,
                max_map_length: int, url: str | None = None) -> dict:
    """Fail or resend stuck messages. Returns ``{"submissions", "slices", "failed", "resent"}``."""
    stuck_minutes = config.stuck_after_minutes() if stuck_minutes is None else stuck_minutes
    max_sends = config.MAX_SEND_ATTEMPTS if max_sends is None else max_sends
    with db.connect(url) as conn:
        stuck = store.stuck_submissions(conn, stuck_minutes=stuck_minutes)
        conn.commit()
        failed = 0
        for row in stuck:
            with conn.transaction():
                messages = store.stuck_messages(conn, row["submission_id"], stuck_minutes=stuck_minutes)
                exhausted = [m["id"] for m in messages
                             if stuck_decision(m["send_attempts"], max_sends) is Outcome.FAILED]
                n = store.fail_without_result(conn, row["submission_id"], exhausted, max_sends=max_sends)
            if n:
                failed += n
                log.error("submission %s (%s): %d message(s) without a result after %d sends: failed "
                          "(GeenResultaat); an operator must investigate", row["submission_id"],
                          row["connection_code"], n, max_sends)
    resent = 0
    submissions = [int(r["submission_id"]) for r in stuck]
    for sid in submissions:
        planned = plan_redelivery(run_id, sid, include_failed=False, failed_codes=None, include_stuck=True,
                                  stuck_minutes=stuck_minutes, actor=store.ACTOR, max_map_length=max_map_length,
                                  url=url)
        resent += planned["summary"]["stuck_resent"]
    with db.connect(url) as conn:
        pending = batch_store.pending_batches(conn, submissions)
    slices = plan_slices(pending, batches_per_slice=config.BATCHES_PER_SLICE, max_map_length=max_map_length,
                         max_slices=config.send_slices())
    log.info("sweep %s: %d submission(s) with stuck messages, %d resent, %d failed", run_id, len(submissions),
             resent, failed)
    return {"submissions": submissions, "slices": slices, "failed": failed, "resent": resent}


OVERDUE_ALERT = "submission_open_too_long"


def report_overdue(*, hours: float | None = None, url: str | None = None) -> list[int]:
    """Alert (once per submission) for submissions open longer than ``hours``
    (``BBX_SUBMISSION_OPEN_HOURS``, 24). Returns their ids."""
    from bbx import alerts
    from bbx.deadlines import SUBMISSION_OPEN_HOURS

    hours = SUBMISSION_OPEN_HOURS if hours is None else hours
    with db.connect(url) as conn:
        overdue = store.overdue_submissions(conn, hours=hours, alert_action=f"alert.{OVERDUE_ALERT}")
    for row in overdue:
        why = f"; held: {row['delivery_held']}" if row["delivery_held"] else ""
        alerts.record(OVERDUE_ALERT,
                      f"submission {row['id']} ({row['connection_code']}, {row['status']}) is open longer than "
                      f"{hours:g} hours (accepted {row['received_at']:%Y-%m-%d %H:%M %Z}){why}",
                      {"hours": hours}, submission_id=row["id"], url=url)
    return [int(r["id"]) for r in overdue]
