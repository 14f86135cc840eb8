"""Delivery in the database: recording MijnOverheid's results (``delivery_results``).

- result: ``queued|sent → delivered | not_subscribed | failed``, or ``→ queued`` in a new
  resend batch (same BerichtID, new BatchID) after ``TechnischProbleem``; what each result
  line does is ``bbx.domain.outcomes.classify_line`` (delivery evidence wins, also over a
  final ``failed``: a correction, see :func:`_correct`).

Lock order as in :mod:`bbx.store.batches`: the batch row first, then its messages.
Callers own the transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from bbx.domain import globe, outcomes
from bbx.domain.delivery import transport_for
from bbx.domain.globe import BatchResult
from bbx.domain.outcomes import Outcome
from bbx.store import audit
from bbx.store.batches import ACTOR, IN_RANGE, batch_range, new_resend_batch

log = logging.getLogger(__name__)


@dataclass
class ResultSummary:
    ebms_message_id: str
    batch_id: str | None
    already_recorded: bool = False
    known_batch: bool = True
    applied: Counter = field(default_factory=Counter)  # outcome -> count
    resent: int = 0
    ignored: int = 0
    attention: list[str] = field(default_factory=list)  # for operators (ERROR + audit)
    resend_batch: str | None = None
    corrected: int = 0  # failed → delivered (delivery evidence that came late)

    @property
    def resend_needed(self) -> bool:
        return self.resend_batch is not None


def result_recorded(conn, ebms_message_id: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM delivery_results WHERE ebms_message_id = %s", (ebms_message_id,)
    ).fetchone() is not None


def mark_result_processed(conn, ebms_message_id: str) -> None:
    conn.execute("UPDATE delivery_results SET processed_at = now() WHERE ebms_message_id = %s",
                 (ebms_message_id,))


def batch_is_sandbox(conn, batch_id: str) -> bool | None:
    """Whether a batch belongs to a sandbox submission; None for a batch BBX does not know."""
    if not _is_uuid(batch_id):
        return None
    row = conn.execute("SELECT s.sandbox FROM batches b JOIN submissions s ON s.id = b.submission_id WHERE b.id = %s",
                       (batch_id,)).fetchone()
    return row["sandbox"] if row else None


def record_unreadable_result(conn, *, connection_id: int, ebms_message_id: str, payload: bytes,
                             payload_sha256: str, problem: str) -> bool:
    """A result BBX cannot read: kept with its payload for investigation (alerted)."""
    inserted = conn.execute(
        """INSERT INTO delivery_results (ebms_message_id, connection_id, known_batch, payload_sha256,
                                         problems, payload)
           VALUES (%s, %s, false, %s, %s, %s) ON CONFLICT DO NOTHING""",
        (ebms_message_id, connection_id, payload_sha256, problem, payload),
    ).rowcount
    if inserted:
        audit.record(conn, actor=ACTOR, action="delivery.result_unreadable", connection_id=connection_id,
                     details={"ebms_message_id": ebms_message_id, "problem": problem})
    return bool(inserted)


def _is_uuid(value: str) -> bool:
    if globe.CANONICAL_GUID.fullmatch(value):  # the usual case, without building a UUID
        return True
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _close_emptied_batches(conn, batch_ids: set[str]) -> None:
    """Unsent batches whose messages were all delivered meanwhile (by evidence from an
    earlier send) have nothing left to send: they are closed instead of sent empty."""
    for b in sorted(batch_ids):
        left = conn.execute(
            f"SELECT count(*) AS n FROM messages m WHERE {IN_RANGE} AND m.outcome = ANY(%(open)s)",
            {**batch_range(conn, b), "open": [o.value for o in outcomes.OPEN_OUTCOMES]},
        ).fetchone()["n"]
        if not left:
            conn.execute(
                """UPDATE batches SET status = 'failed',
                          last_error = 'not sent: its messages were delivered by an earlier send'
                   WHERE id = %s AND status = 'planned'""",
                (b,),
            )


# A result's message is recorded against the batch the result came from, when it is of that
# batch's submission (a result naming another submission's BerichtID keeps that message's
# batch: a batch holds rows of its own submission only, migration 260).
_EVIDENCE_BATCH = "CASE WHEN m.submission_id = %(submission)s THEN %(batch)s::uuid ELSE m.batch_id END"


def _widen_to(conn, batch_id: str, submission_id: int, rows: list[dict]) -> None:
    """Delivery evidence may name a message of the batch's submission that is outside the
    batch's row range (it was put in the batch by an older plan): the range grows to hold it."""
    numbers = [r["row_number"] for r in rows if r["submission_id"] == submission_id]
    if numbers:
        conn.execute(
            """UPDATE batches SET first_row = least(first_row, %s), last_row = greatest(last_row, %s)
               WHERE id = %s AND (first_row > %s OR last_row < %s)""",
            (min(numbers), max(numbers), batch_id, min(numbers), max(numbers)),
        )


def _correct(conn, corrections: list[tuple[dict, outcomes.ResultDecision]], *, batch_id: str,
             batch_submission: int, ebms_message_id: str, connection_id: int) -> None:
    """``failed → delivered`` (delivery evidence wins): the correction is recorded first
    (the trigger requires it), then applied; a submission whose result file was written
    gets a new version (``unreported_submissions`` finds it again) and an audit entry."""
    conn.execute(
        """INSERT INTO outcome_corrections (message_id, submission_id, from_outcome, to_outcome, from_code,
                                            to_code, ebms_message_id)
           SELECT v.id, m.submission_id, m.outcome, 'delivered', m.outcome_code, v.code, %s
           FROM unnest(%s::bigint[], %s::text[]) AS v(id, code) JOIN messages m ON m.id = v.id""",
        (ebms_message_id, [r["id"] for r, _ in corrections], [d.code for _, d in corrections]),
    )
    conn.execute(
        """UPDATE messages m SET outcome = 'delivered', outcome_code = v.code, outcome_reason = v.reason,
                  final_at = now(), batch_id = %s
           FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, code, reason)
           WHERE m.id = v.id AND m.outcome = 'failed'""",
        (batch_id, [r["id"] for r, _ in corrections], [d.code for _, d in corrections],
         [d.explanation for _, d in corrections]),
    )
    by_submission = Counter(r["submission_id"] for r, _ in corrections)
    for submission_id, n in sorted(by_submission.items()):
        reopened = conn.execute(
            """UPDATE submissions SET results_written_at = NULL
               WHERE id = %s AND status = 'closed' AND results_written_at IS NOT NULL RETURNING id""",
            (submission_id,),
        ).fetchone()
        audit.record(conn, actor=ACTOR, action="submission.outcome_corrected", connection_id=connection_id,
                     submission_id=submission_id,
                     details={"batch_id": batch_id, "ebms_message_id": ebms_message_id, "failed_to_delivered": n,
                              "bericht_ids": [r["message_id"] for r, _ in corrections
                                              if r["submission_id"] == submission_id][:100],
                              "new_result_file": reopened is not None})
        log.warning("submission %s: %d failed message(s) were delivered after all (late delivery evidence)%s",
                    submission_id, n, "; a corrected result file follows" if reopened else "")


def record_result(conn, *, connection_id: int, ebms_message_id: str, payload_sha256: str,
                  result: BatchResult, max_attempts: int, sandbox: bool = False) -> ResultSummary:
    """Apply one ``GLOBE-R-BV-Result`` (call in one transaction, before processMessage).

    Idempotent: a result already recorded (same ebMS id) changes nothing; a duplicate
    result (new ebMS id, same payload) finds its messages final or moved on and is
    ignored; a result for a batch BBX does not know is recorded and ignored.

    ``sandbox``: the result came from the sandbox endpoint. It applies only to sandbox
    submissions' batches and messages (a sandbox can never deliver, fail or correct a live
    letter), and says nothing about MijnOverheid's subscriptions (no register doubt).
    """
    summary = ResultSummary(ebms_message_id, result.batch_id)
    inserted = conn.execute(
        """INSERT INTO delivery_results (ebms_message_id, connection_id, batch_id, known_batch,
                                         payload_sha256, message_count)
           VALUES (%s, %s, %s, false, %s, %s) ON CONFLICT DO NOTHING""",
        (ebms_message_id, connection_id, result.batch_id if _is_uuid(result.batch_id) else None,
         payload_sha256, len(result.messages)),
    ).rowcount
    if not inserted:
        summary.already_recorded = True
        return summary

    batch_row = None
    if _is_uuid(result.batch_id):
        batch_row = conn.execute(
            """SELECT b.id, b.submission_id, b.connection_id, c.code AS connection_code, s.sandbox
               FROM batches b JOIN connections c ON c.id = b.connection_id
               JOIN submissions s ON s.id = b.submission_id
               WHERE b.id = %s FOR UPDATE OF b""",
            (result.batch_id,),
        ).fetchone()
    if batch_row is None or batch_row["connection_id"] != connection_id or batch_row["sandbox"] != sandbox:
        summary.known_batch = False
        summary.ignored = len(result.messages)
        conn.execute(
            "UPDATE delivery_results SET ignored = %s, problems = %s WHERE ebms_message_id = %s",
            (summary.ignored, f"result for a batch this connection never sent through its {transport_for(sandbox=sandbox)}"
                              " transport", ebms_message_id),
        )
        return summary

    batch_id = str(batch_row["id"])
    submission_id = batch_row["submission_id"]
    conn.execute(
        """UPDATE batches SET status = 'result_received', result_at = coalesce(result_at, now()),
                  sent_at = coalesce(sent_at, now())
           WHERE id = %s AND status IN ('planned', 'sent', 'result_received')""",
        (batch_id,),
    )
    problems = list(result.inconsistencies())
    reading = outcomes.read_batch(
        [m.code for m in result.messages],
        {name: getattr(result, name) for name in ("total_received", "succeeded", "not_subscribed",
                                                  "technical_problem", "message_type_incorrect",
                                                  "publication_date_incorrect", "creation_date_incorrect")},
    )

    wanted = [m.message_id for m in result.messages if _is_uuid(m.message_id)]
    rows = {
        r["message_id"]: r
        for r in conn.execute(
            """SELECT m.id, m.message_id::text AS message_id, m.bsn, m.outcome, m.outcome_code,
                      m.batch_id::text AS batch_id, m.send_attempts, m.submission_id, m.row_number
               FROM messages m JOIN submissions s ON s.id = m.submission_id
               WHERE m.message_id = ANY(%s::uuid[]) AND s.sandbox = %s FOR UPDATE OF m""",
            (wanted, sandbox),
        )
    }
    rows_by_pk = {r["id"]: r for r in rows.values()}
    finals: list[tuple[int, str, str, str]] = []  # (pk, outcome, code, reason)
    corrections: list[tuple[dict, outcomes.ResultDecision]] = []
    retry: list[tuple[int, str]] = []
    doubts: list[tuple[str, str]] = []  # (bsn, BerichtID)
    unknown_codes: Counter = Counter()
    contradictions: list[str] = []
    exhausted = 0
    seen: set[str] = set()
    for line in result.messages:
        row = rows.get(line.message_id)
        verdict = outcomes.classify_line(
            line.code, current=row["outcome"] if row else None,
            in_this_batch=row is not None and row["batch_id"] == batch_id,
            seen_in_result=line.message_id in seen, attempt=row["send_attempts"] if row else 1,
            max_attempts=max_attempts, unknown_is_delivered=reading.unknown_is_delivered,
        )
        seen.add(line.message_id)
        if verdict.doubt:
            contradictions.append(f"{line.message_id}: {verdict.doubt}")
        if verdict.action is outcomes.LineAction.IGNORE:
            summary.ignored += 1
            continue
        decision = verdict.decision
        if verdict.action is outcomes.LineAction.RETRY:
            retry.append((row["id"], line.message_id))
            continue
        code = decision.code or "(empty)"
        if verdict.action is outcomes.LineAction.CORRECT:
            corrections.append((row, decision))
        else:
            finals.append((row["id"], decision.outcome.value, code, decision.explanation))
        summary.applied[decision.outcome.value] += 1
        if decision.register_stale:
            doubts.append((row["bsn"], line.message_id))
        if decision.retries_exhausted:
            exhausted += 1
        elif decision.needs_attention:
            unknown_codes[code] += 1

    _widen_to(conn, batch_id, submission_id, [rows_by_pk[f[0]] for f in finals] + [r for r, _ in corrections])
    if finals:
        # Delivery evidence may come from an earlier batch than the one the message is in
        # now (it moved on to a resend batch): it is recorded against the batch it came
        # from, and an unsent resend batch left without messages is closed.
        conn.execute(
            f"""UPDATE messages m SET outcome = v.outcome, outcome_code = v.code,
                       outcome_reason = v.reason, final_at = now(), batch_id = {_EVIDENCE_BATCH}
                FROM unnest(%(ids)s::bigint[], %(outcomes)s::text[], %(codes)s::text[], %(reasons)s::text[])
                     AS v(id, outcome, code, reason)
                WHERE m.id = v.id AND m.outcome = ANY(%(open)s)""",
            {"batch": batch_id, "submission": submission_id, "ids": [f[0] for f in finals],
             "outcomes": [f[1] for f in finals], "codes": [f[2] for f in finals], "reasons": [f[3] for f in finals],
             "open": [o.value for o in outcomes.OPEN_OUTCOMES]},
        )
        batch_of = {r["id"]: r["batch_id"] for r in rows.values()}
        _close_emptied_batches(conn, {batch_of[f[0]] for f in finals if batch_of[f[0]]} - {batch_id})
    if corrections:
        _correct(conn, corrections, batch_id=batch_id, batch_submission=submission_id,
                 ebms_message_id=ebms_message_id, connection_id=connection_id)
        summary.corrected = len(corrections)
    if reading.problems:
        summary.attention.extend(reading.problems)
    if contradictions:
        summary.attention.append(
            f"{len(contradictions)} result line(s) contradict a final outcome, left as they are: "
            + "; ".join(contradictions[:5]))
    if doubts and not sandbox:  # the sandbox's subscriptions are not MijnOverheid's
        from bbx.store import register

        for bsn, message_id in doubts:
            register.record_doubt(conn, connection_id, bsn, message_id=message_id,
                                  source="GLOBE-R-BV-Result NietActiefOfGeabonneerd")
    if retry:
        resend_id = new_resend_batch(conn, connection_id=connection_id, connection_code=batch_row["connection_code"],
                                     submission_id=submission_id, message_pks=[pk for pk, _ in retry],
                                     from_outcomes=(Outcome.QUEUED, Outcome.SENT))
        summary.resent = len(retry)
        summary.resend_batch = resend_id

    if unknown_codes:
        summary.attention.append(
            "unknown VerwerkingsCode(s) " + ", ".join(f"{c!r} × {n}" for c, n in sorted(unknown_codes.items()))
            + " counted as failed: find out whether these messages arrived"
        )
    if exhausted:
        summary.attention.append(
            f"{exhausted} message(s) still had TechnischProbleem after {max_attempts} attempts: failed; "
            "resend them with bbx_redeliver once MijnOverheid is well again"
        )
    problems.extend(summary.attention)
    if summary.ignored:
        problems.append(f"{summary.ignored} result line(s) ignored (duplicates, unknown or already final)")
    conn.execute(
        """UPDATE delivery_results SET known_batch = true, applied = %s, resent = %s, ignored = %s,
                  problems = %s WHERE ebms_message_id = %s""",
        (sum(summary.applied.values()), summary.resent, summary.ignored,
         "; ".join(problems) or None, ebms_message_id),
    )
    if summary.attention:
        audit.record(
            conn, actor=ACTOR, action="delivery.attention", connection_id=connection_id,
            submission_id=submission_id,
            details={"batch_id": batch_id, "ebms_message_id": ebms_message_id, "problems": summary.attention,
                     "unknown_codes": dict(unknown_codes), "technisch_probleem_exhausted": exhausted},
        )
    return summary


def connections_to_poll(conn, *, connection_ids: Sequence[int] | None = None,
                        submission_ids: Sequence[int] | None = None, recent_days: int = 7) -> list[dict]:
    """Where to read results: (connection, transport) pairs, ``sandbox`` false for the live
    adapter and true for the sandbox, with ``id, code, oin, cpa_id``. The given connections
    (their sandbox too once they have sandbox submissions); those of the given submissions;
    or else every active connection with a submission being delivered or a batch sent
    within ``recent_days`` through that transport (late duplicates are acknowledged too)."""
    if connection_ids is not None:
        return conn.execute(
            """SELECT c.id, c.code, c.oin, c.cpa_id, k.sandbox
               FROM connections c CROSS JOIN (VALUES (false), (true)) AS k(sandbox)
               WHERE c.id = ANY(%s) AND (NOT k.sandbox OR EXISTS (
                   SELECT 1 FROM submissions s WHERE s.connection_id = c.id AND s.sandbox))
               ORDER BY c.code, k.sandbox""",
            (list(connection_ids),)).fetchall()
    if submission_ids is not None:
        return conn.execute(
            """SELECT DISTINCT c.id, c.code, c.oin, c.cpa_id, s.sandbox
               FROM connections c JOIN submissions s ON s.connection_id = c.id
               WHERE s.id = ANY(%s) ORDER BY c.code, s.sandbox""",
            (list(submission_ids),),
        ).fetchall()
    return conn.execute(
        """SELECT c.id, c.code, c.oin, c.cpa_id, k.sandbox
           FROM connections c CROSS JOIN (VALUES (false), (true)) AS k(sandbox)
           WHERE c.active AND (
               EXISTS (SELECT 1 FROM submissions s WHERE s.connection_id = c.id AND s.sandbox = k.sandbox
                       AND s.status = 'delivering')
            OR EXISTS (SELECT 1 FROM batches b JOIN submissions s ON s.id = b.submission_id
                       WHERE b.connection_id = c.id AND s.sandbox = k.sandbox
                       AND b.sent_at > now() - make_interval(days => %s)))
           ORDER BY c.code, k.sandbox""",
        (recent_days,),
    ).fetchall()
