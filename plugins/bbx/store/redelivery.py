"""Delivery in the database: an operator's redelivery of a submission
(``failed → planned`` and ``sent → queued`` for stuck messages without a result).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bbx.domain import outcomes
from bbx.domain.outcomes import Outcome
from bbx.store import audit
from bbx.store.batches import new_resend_batch

log = logging.getLogger(__name__)

# SQL lists of outcome names, from the domain's sets (a typo fails at import, not in SQL)
_HANDED_IN = outcomes.sql_list(outcomes.HANDED_IN)


REDELIVERABLE = (Outcome.FAILED, Outcome.SENT)


def prepare_redelivery(conn, submission_id: int, *, run_id: str, failed_codes: Sequence[str] | None,
                       include_failed: bool, include_stuck: bool, stuck_minutes: int,
                       actor: str) -> dict[str, int]:
    """Give messages of a submission another delivery, with the same BerichtIDs:

    - ``include_failed``: failed messages (only those with a code in ``failed_codes``
      when given) go back to ``planned``, their attempts counted afresh; the plan step
      applies the register decision again and cuts them into new batches;
    - ``include_stuck``: messages ``sent`` more than ``stuck_minutes`` ago without a
      result go into new resend batches at once (``sent → queued``).

    A closed submission is opened again (its result file is rewritten when it closes).
    MijnOverheid answers ``BerichtBestaatAl`` for what the citizen already has, which
    counts as delivered: a redelivery never puts a message in a box twice.
    """
    sub = conn.execute(
        """SELECT s.id, s.status, s.connection_id, c.code AS connection_code
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           WHERE s.id = %s FOR UPDATE OF s""",
        (submission_id,),
    ).fetchone()
    if sub is None:
        raise LookupError(f"submission {submission_id} does not exist")
    if sub["status"] not in ("delivering", "closed"):
        raise ValueError(
            f"submission {submission_id} is {sub['status']!r}: only a submission that was delivered "
            "(delivering or closed) can be redelivered"
        )
    counts = {"failed_replanned": 0, "failed_superseded": 0, "stuck_resent": 0}
    if include_failed:
        codes = list(failed_codes) if failed_codes else None
        chosen = """submission_id = %(sid)s AND outcome = 'failed'
                    AND (%(codes)s::text[] IS NULL OR outcome_code = ANY(%(codes)s::text[]))"""
        # A failed row may be handed in again (a new BerichtID); once that happened the
        # old one must not go out as well, or the citizen would get the letter twice.
        superseded = f"""EXISTS (SELECT 1 FROM messages again
                         WHERE again.connection_id = messages.connection_id AND again.bsn = messages.bsn
                           AND again.message_type_id IS NOT DISTINCT FROM messages.message_type_id
                           AND again.id <> messages.id
                           AND again.outcome IN {_HANDED_IN})"""
        params = {"sid": submission_id, "codes": codes}
        counts["failed_superseded"] = conn.execute(
            f"SELECT count(*) AS n FROM messages WHERE {chosen} AND {superseded}", params
        ).fetchone()["n"]
        counts["failed_replanned"] = conn.execute(
            f"""UPDATE messages SET outcome = 'planned', outcome_code = NULL, outcome_reason = NULL,
                       final_at = NULL, batch_id = NULL, send_attempts = 0
                WHERE {chosen} AND NOT {superseded}""",
            params,
        ).rowcount
    if include_stuck:
        stuck = conn.execute(
            """SELECT m.id, m.batch_id::text AS batch_id FROM messages m
               WHERE m.submission_id = %s AND m.outcome = 'sent'
                 AND m.sent_at < now() - make_interval(mins => %s)
               ORDER BY m.batch_id, m.row_number""",
            (submission_id, stuck_minutes),
        ).fetchall()
        by_batch: dict[str, list[int]] = {}
        for r in stuck:
            by_batch.setdefault(r["batch_id"], []).append(r["id"])
        for old_batch, pks in by_batch.items():
            new_id = new_resend_batch(conn, connection_id=sub["connection_id"], connection_code=sub["connection_code"],
                                      submission_id=submission_id, message_pks=pks, from_outcomes=(Outcome.SENT,))
            log.info("redelivery: %d message(s) of batch %s without result go in batch %s",
                     len(pks), old_batch, new_id)
        counts["stuck_resent"] = len(stuck)
    if counts["failed_replanned"] or counts["stuck_resent"]:
        conn.execute(
            """UPDATE submissions SET status = 'delivering', closed_at = NULL, results_written_at = NULL,
                      delivery_run_id = %s WHERE id = %s""",
            (run_id, submission_id),
        )
    audit.record(conn, actor=actor, action="submission.redelivery", submission_id=submission_id,
                 connection_id=sub["connection_id"],
                 details={"run_id": run_id, "failed_codes": list(failed_codes or []), **counts})
    return counts
