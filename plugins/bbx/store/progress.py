"""The figures of a submission's progress (``bbx.domain.progress``), in one query."""

from __future__ import annotations

from datetime import datetime

from bbx.domain import outcomes
from bbx.domain.progress import Progress, progress

_FINAL = outcomes.sql_list(outcomes.FINAL_OUTCOMES)


def submission_progress(conn, sub: dict, *, now: datetime) -> Progress:
    """``sub``: a submissions row (status, rows_handed_in, send_at). Messages of a batch
    cancelled before it was sent do not count as "in batches": they never went."""
    r = conn.execute(
        f"""SELECT count(*) FILTER (WHERE b.status <> 'cancelled') AS in_batches,
                   count(*) FILTER (WHERE b.status IN ('sent', 'result_received')) AS acknowledged,
                   count(*) FILTER (WHERE m.outcome IN {_FINAL}) AS final,
                   count(*) FILTER (WHERE m.outcome IN {_FINAL} AND b.status IN ('sent', 'result_received'))
                       AS final_after_send,
                   (SELECT min(sent_at) FROM batches WHERE submission_id = %(id)s) AS first_sent_at
            FROM messages m LEFT JOIN batches b ON b.id = m.batch_id
            WHERE m.submission_id = %(id)s""",
        {"id": sub["id"]},
    ).fetchone()
    return progress(status=sub["status"], handed_in=sub["rows_handed_in"] or 0, in_batches=r["in_batches"],
                    acknowledged=r["acknowledged"], final=r["final"], final_after_send=r["final_after_send"],
                    first_sent_at=r["first_sent_at"], now=now, send_at=sub.get("send_at"))


def register_forecast(conn, submission_id: int, connection_id: int, day) -> dict:
    """Of the submission's messages still waiting to be planned: how many BBX's register
    has subscribed on ``day`` (they will be sent) and how many not (they will not be sent,
    unless the register changes before the delivery run)."""
    r = conn.execute(
        """SELECT count(*) FILTER (WHERE a.bsn IS NOT NULL) AS will_send,
                  count(*) FILTER (WHERE a.bsn IS NULL) AS not_subscribed
           FROM messages m LEFT JOIN register_active_on(%s, %s) a ON a.bsn = m.bsn
           WHERE m.submission_id = %s AND m.outcome = 'planned'""",
        (connection_id, day, submission_id),
    ).fetchone()
    return {"will_send": r["will_send"], "not_subscribed": r["not_subscribed"]}
