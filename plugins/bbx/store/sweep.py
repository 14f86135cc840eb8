"""SQL of the stuck-message sweep (``bbx.delivery.sweep``); the resend itself is
``store.redelivery.prepare_redelivery`` (the path bbx_redeliver uses)."""

from __future__ import annotations

from bbx.domain.outcomes import Outcome
from bbx.domain.sweep import NO_RESULT_CODE, NO_RESULT_EXPLANATION
from bbx.store import audit
from bbx.store.batches import IN_BATCH

ACTOR = "bbx-sweep"

# No index names messages.sent_at (migration 260): a stuck message is found through its
# batch. A message is 'sent' by the mark_sent of the batch it is in, which set the batch's
# sent_at (its first send) no later than the message's, so the batches sent before the
# cutoff, of submissions with open messages, hold every stuck message. Each batch's range is
# read in a LATERAL subquery: the batch's own columns are its only way in (a join let stale
# statistics pick a scan of all messages).
_STUCK_BATCHES = """s.open_messages > 0 AND b.sent_at < now() - make_interval(mins => %(minutes)s)"""
_STUCK = f"""SELECT m.id, m.send_attempts FROM messages m
             WHERE {IN_BATCH} AND m.outcome = %(sent)s AND m.sent_at < now() - make_interval(mins => %(minutes)s)
             OFFSET 0"""  # a fence: the planner would flatten the subquery into a join again


def stuck_submissions(conn, *, stuck_minutes: int, limit: int = 200) -> list[dict]:
    """Submissions with messages ``sent`` longer than ``stuck_minutes`` ago without result."""
    return conn.execute(
        f"""SELECT s.id AS submission_id, c.code AS connection_code, count(*) AS stuck
            FROM submissions s JOIN connections c ON c.id = s.connection_id
            JOIN batches b ON b.submission_id = s.id CROSS JOIN LATERAL ({_STUCK}) m
            WHERE {_STUCK_BATCHES}
            GROUP BY s.id, c.code ORDER BY s.id LIMIT %(limit)s""",
        {"sent": Outcome.SENT.value, "minutes": stuck_minutes, "limit": limit},
    ).fetchall()


def stuck_messages(conn, submission_id: int, *, stuck_minutes: int) -> list[dict]:
    """The stuck messages of one submission with their sends so far (locked)."""
    return conn.execute(
        f"""SELECT m.id, m.send_attempts FROM submissions s JOIN batches b ON b.submission_id = s.id
            CROSS JOIN LATERAL ({_STUCK} FOR UPDATE OF m) m
            WHERE s.id = %(sid)s AND {_STUCK_BATCHES} ORDER BY m.id""",
        {"sid": submission_id, "sent": Outcome.SENT.value, "minutes": stuck_minutes},
    ).fetchall()


def fail_without_result(conn, submission_id: int, message_ids: list[int], *, max_sends: int) -> int:
    """``sent → failed`` (GeenResultaat) for these messages, with an audit entry that asks
    for an operator's attention. Returns how many."""
    if not message_ids:
        return 0
    failed = conn.execute(
        """UPDATE messages SET outcome = %(failed)s, outcome_code = %(code)s,
                  outcome_reason = %(reason)s, final_at = now()
           WHERE id = ANY(%(ids)s) AND outcome = %(sent)s""",
        {"failed": Outcome.FAILED.value, "code": NO_RESULT_CODE, "ids": message_ids, "sent": Outcome.SENT.value,
         "reason": NO_RESULT_EXPLANATION["nl"].format(sends=max_sends)},
    ).rowcount
    if failed:
        audit.record(conn, actor=ACTOR, action="delivery.no_result", submission_id=submission_id,
                     details={"failed": failed, "code": NO_RESULT_CODE, "max_sends": max_sends, "attention": True})
    return failed


def overdue_submissions(conn, *, hours: float, alert_action: str) -> list[dict]:
    """Submissions accepted more than ``hours`` ago and still open (waiting, held or
    delivering) that were not reported yet (no ``alert_action`` audit entry)."""
    return conn.execute(
        """SELECT s.id, s.status, s.received_at, s.delivery_held, c.code AS connection_code
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           WHERE s.status IN ('accepted', 'delivering')
             AND s.received_at < now() - make_interval(secs => %(secs)s)
             AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.submission_id = s.id AND a.action = %(action)s)
           ORDER BY s.id""",
        {"secs": hours * 3600, "action": alert_action},
    ).fetchall()
