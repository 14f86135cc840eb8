"""Cancelling a submission (issue 18): every message not yet in a batch the ebMS adapter
acknowledged becomes final ``cancelled``; what is already with MijnOverheid cannot be
recalled and goes on to its outcome.

Lock order (no waiting on anything a sender or result collector holds, so no deadlock):

1. the submission row (``FOR UPDATE``): serialises with the planner, which claims and
   plans a submission under the same row lock (:func:`bbx.delivery.plan.plan_submission`);
2. per unsent batch: the sender's advisory lock (``pg_try_advisory_xact_lock``, the key of
   :func:`bbx.store.batches.lock_for_sending`) and the batch row (``SKIP LOCKED``). A batch
   whose lock is taken is being sent right now: it is left alone and counted as *not
   cancelled*; when that send fails and the batch comes round again, the sender sees
   ``cancel_requested_at`` and cancels it instead (:func:`cancel_batch`);
3. the batch's messages.

Callers own the transaction (``bbx.store.db.unit``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bbx.domain import outcomes
from bbx.domain.outcomes import Outcome
from bbx.i18n import _, number
from bbx.store import audit, submissions
from bbx.store.batches import IN_RANGE, batch_range

CANCELLED_CODE = "Cancelled"  # BBX's reason code in the result file's ``code`` column


class NotCancellable(ValueError):
    """The submission cannot be cancelled in its state (the message says why)."""


@dataclass(frozen=True)
class CancelResult:
    submission_id: int
    cancelled: int  # now final 'cancelled' by this request
    not_cancelled: int  # already with MijnOverheid (sent) or in a batch being sent right now
    already_final: int  # had an outcome before (rejected, not subscribed, delivered, ...)
    batches_cancelled: int
    closed: bool
    first_request: bool  # False: the submission had been cancelled before (a repeat is harmless)

    @property
    def explanation(self) -> str:
        text = _("{cancelled} message(s) cancelled.", cancelled=number(self.cancelled))
        if self.not_cancelled:
            text += " " + _("{count} message(s) were already with MijnOverheid or being sent and cannot be "
                            "recalled; they keep their way to an outcome (delivered, not subscribed or "
                            "failed).", count=number(self.not_cancelled))
        return text

    def as_dict(self) -> dict:
        return {"submission": self.submission_id, "cancelled": self.cancelled,
                "not_cancelled": self.not_cancelled, "already_final": self.already_final,
                "batches_cancelled": self.batches_cancelled, "closed": self.closed,
                "first_request": self.first_request, "explanation": self.explanation}


def reason(actor: str) -> str:
    return _("Cancelled by {actor} before it was sent; nothing was delivered to the citizen.", actor=actor)


def lock_submission(conn, submission_id: int) -> None:
    """Take the submission row's lock, as a planner must before it plans (lock order 1)."""
    conn.execute("SELECT 1 FROM submissions WHERE id = %s FOR UPDATE", (submission_id,))


def cancel_submission(conn, submission_id: int, *, actor: str) -> CancelResult:
    """Cancel what can still be cancelled of ``submission_id`` (see the module doc)."""
    sub = conn.execute(
        "SELECT id, status, cancel_requested_at FROM submissions WHERE id = %s FOR UPDATE",
        (submission_id,),
    ).fetchone()
    if sub is None:
        raise NotCancellable(_("Submission {id} does not exist.", id=submission_id))
    if sub["status"] == "received":
        raise NotCancellable(_("Submission {id} is still being received; cancel it when it is accepted "
                               "(in a minute).", id=submission_id))
    if sub["status"] == "rejected":
        raise NotCancellable(_("Submission {id} was rejected as a whole: nothing of it is sent.", id=submission_id))
    first = sub["cancel_requested_at"] is None
    if sub["status"] != "closed":
        conn.execute(
            """UPDATE submissions SET cancel_requested_at = coalesce(cancel_requested_at, now()),
                      cancelled_by = coalesce(cancelled_by, %s) WHERE id = %s""",
            (actor, submission_id),
        )
    why = reason(actor)
    cancelled = conn.execute(
        """UPDATE messages SET outcome = %s, outcome_code = %s, outcome_reason = %s, final_at = now()
           WHERE submission_id = %s AND outcome = %s""",
        (Outcome.CANCELLED.value, CANCELLED_CODE, why, submission_id, Outcome.PLANNED.value),
    ).rowcount
    batches = 0
    unsent = conn.execute("SELECT id FROM batches WHERE submission_id = %s AND status = 'planned' "
                          "ORDER BY batch_number", (submission_id,)).fetchall()
    for b in unsent:
        batch_id = str(b["id"])
        if not conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 30)) AS ok",
                            (batch_id,)).fetchone()["ok"]:
            continue  # a sender has it: on its way to MijnOverheid
        row = conn.execute("SELECT status FROM batches WHERE id = %s FOR UPDATE SKIP LOCKED",
                           (batch_id,)).fetchone()
        if row is None or row["status"] != "planned":
            continue
        cancelled += _cancel_batch_messages(conn, batch_id, why)
        batches += 1
    counts = submissions.outcome_counts(conn, submission_id)
    not_cancelled = sum(counts[o.value] for o in outcomes.OPEN_OUTCOMES)
    already_final = sum(counts[o.value] for o in outcomes.FINAL_OUTCOMES) - cancelled
    closed = submissions.close_if_reconciled(conn, submission_id, actor=actor)
    result = CancelResult(submission_id, cancelled, not_cancelled, already_final, batches, closed, first)
    audit.record(conn, actor=actor, action="submission.cancelled", submission_id=submission_id,
                 details={k: v for k, v in result.as_dict().items() if k != "explanation"})
    return result


def _cancel_batch_messages(conn, batch_id: str, why: str) -> int:
    """A locked, never acknowledged batch: its queued messages ``→ cancelled``, the batch
    ``cancelled`` (never sent)."""
    moved = conn.execute(
        f"""UPDATE messages m SET outcome = %(cancelled)s, outcome_code = %(code)s, outcome_reason = %(why)s,
                   final_at = now()
            WHERE {IN_RANGE} AND m.outcome = %(queued)s""",
        {**batch_range(conn, batch_id), "cancelled": Outcome.CANCELLED.value, "code": CANCELLED_CODE, "why": why,
         "queued": Outcome.QUEUED.value},
    ).rowcount
    conn.execute("UPDATE batches SET status = 'cancelled' WHERE id = %s AND status = 'planned'", (batch_id,))
    return moved


def cancel_batch(conn, batch_row: dict) -> int:
    """The sender found a batch of a cancelled submission (it holds the batch's lock):
    cancel it instead of sending it. Returns the messages cancelled."""
    batch_id = str(batch_row["id"])
    conn.execute("SELECT 1 FROM batches WHERE id = %s FOR UPDATE", (batch_id,))
    moved = _cancel_batch_messages(conn, batch_id, reason(batch_row["cancelled_by"] or "?"))
    audit.record(conn, actor=batch_row["cancelled_by"] or "bbx-delivery", action="delivery.batch_cancelled",
                 submission_id=batch_row["submission_id"], details={"batch_id": batch_id, "cancelled": moved})
    return moved


def open_messages(conn, submission_id: int) -> int:
    """Messages planned, queued or sent (kept per statement by migration 260's triggers)."""
    return conn.execute("SELECT open_messages AS n FROM submissions WHERE id = %s",
                        (submission_id,)).fetchone()["n"]
