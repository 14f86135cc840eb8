"""Delivery in the database: submissions waiting to be delivered (holds, claims by a run) and
the progress of those being delivered (``bbx delivery status``).

The moves of a message are in :mod:`bbx.store.batches`, :mod:`bbx.store.results` and
:mod:`bbx.store.redelivery`; callers own the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bbx.store import audit
from bbx.store.batches import ACTOR


def waiting_submissions(conn, *, limit: int = 500) -> list[dict]:
    """Accepted submissions that no delivery run has taken yet and whose ``send_at`` (if
    scheduled) has come, oldest first."""
    return conn.execute(
        """SELECT s.id, s.connection_id, s.channel, s.external_ref, s.delivery_held,
                  s.rows_handed_in, s.submitted_by,
                  c.code AS connection_code, c.active AS connection_active, c.approval_threshold
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           WHERE s.status = 'accepted' AND s.delivery_run_id IS NULL
             AND (s.send_at IS NULL OR s.send_at <= now())
           ORDER BY s.received_at, s.id LIMIT %s""",
        (limit,),
    ).fetchall()


def hold(conn, submission_id: int, reason: str) -> bool:
    """Keep a submission from being sent (stale register, inactive connection). True when
    the reason is new."""
    changed = conn.execute(
        """UPDATE submissions SET delivery_held = %s
           WHERE id = %s AND delivery_held IS DISTINCT FROM %s""",
        (reason, submission_id, reason),
    ).rowcount
    if changed:
        audit.record(conn, actor=ACTOR, action="delivery.held", submission_id=submission_id,
                     details={"reason": reason})
    return bool(changed)


def claim(conn, submission_id: int, run_id: str, send_date: date) -> bool:
    """Take an accepted submission for delivery run ``run_id`` (False: someone else did)."""
    row = conn.execute(
        """UPDATE submissions SET status = 'delivering', delivery_run_id = %s, send_date = %s,
                  delivery_held = NULL
           WHERE id = %s AND status = 'accepted' AND delivery_run_id IS NULL
           RETURNING id""",
        (run_id, send_date, submission_id),
    ).fetchone()
    if row:
        audit.record(conn, actor=ACTOR, action="delivery.planned", submission_id=submission_id,
                     details={"run_id": run_id, "send_date": send_date.isoformat()})
    return row is not None


def run_submissions(conn, run_id: str) -> list[dict]:
    """Submissions a delivery run took (a rerun of the run finds them here)."""
    return conn.execute(
        """SELECT s.id, s.connection_id, s.status, s.send_date, c.code AS connection_code
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           WHERE s.delivery_run_id = %s ORDER BY s.id""",
        (run_id,),
    ).fetchall()


def progress(conn, submission_ids: Sequence[int]) -> list[dict]:
    """Per submission: status, rows handed in and rows per outcome (for operators)."""
    rows = conn.execute(
        """SELECT s.id, s.status, s.channel, s.rows_handed_in, s.delivery_held, s.sandbox,
                  c.code AS connection_code, c.cpa_id, c.oin,
                  count(*) FILTER (WHERE m.outcome = 'planned') AS planned,
                  count(*) FILTER (WHERE m.outcome = 'queued') AS queued,
                  count(*) FILTER (WHERE m.outcome = 'sent') AS sent,
                  count(*) FILTER (WHERE m.outcome = 'delivered') AS delivered,
                  count(*) FILTER (WHERE m.outcome = 'not_subscribed') AS not_subscribed,
                  count(*) FILTER (WHERE m.outcome = 'failed') AS failed,
                  count(*) FILTER (WHERE m.outcome = 'rejected') AS rejected,
                  count(*) FILTER (WHERE m.outcome = 'cancelled') AS cancelled
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           LEFT JOIN messages m ON m.submission_id = s.id
           WHERE s.id = ANY(%s) GROUP BY s.id, c.id ORDER BY s.id""",
        (list(submission_ids),),
    ).fetchall()
    return [dict(r) for r in rows]


def open_submission_ids(conn) -> list[int]:
    """Submissions accepted or being delivered (not closed), oldest first."""
    return [r["id"] for r in conn.execute(
        "SELECT id FROM submissions WHERE status IN ('accepted', 'delivering') ORDER BY id")]


def batches_waiting(conn, submission_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Per submission, its batches that are unsent or sent without a result yet."""
    found: dict[int, list[dict]] = {}
    for r in conn.execute(
        """SELECT submission_id, id, batch_number, kind, status, message_count, sent_at, last_error
           FROM batches WHERE submission_id = ANY(%s) AND status IN ('planned', 'sent')
           ORDER BY submission_id, batch_number""",
        (list(submission_ids),),
    ):
        found.setdefault(r["submission_id"], []).append(r)
    return found


def scheduled_due(conn) -> list[dict]:
    """Scheduled submissions whose ``send_at`` has come and that no delivery run has taken
    (nor held) yet, with how long they are due; what ``bbx.triggers.scheduled`` announces."""
    return conn.execute(
        """SELECT s.id, c.code AS connection_code, s.send_at,
                  extract(epoch FROM now() - s.send_at)::float AS due_seconds
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           WHERE s.status = 'accepted' AND s.delivery_run_id IS NULL AND s.delivery_held IS NULL
             AND s.send_at IS NOT NULL AND s.send_at <= now()
           ORDER BY s.send_at, s.id""",
    ).fetchall()
