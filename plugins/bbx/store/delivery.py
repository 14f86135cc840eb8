"""Delivery in the database: set-based SQL for planning, sending and recording results.

The moves of a message (``bbx.domain.outcomes``) happen here, each guarded by the
state it must be in, so a rerun or a second worker never applies a move twice:

- plan: ``planned → not_subscribed`` (register decision on the send date) and
  ``planned → queued`` (cut into GLOBE batches with ``bbx.domain.chunking``);
- send: ``queued → sent`` when the ebMS adapter acknowledged the batch;
- result: ``queued|sent → delivered | not_subscribed | failed``, or ``→ queued`` in a new
  resend batch (same BerichtID, new BatchID) after ``TechnischProbleem``; what each result
  line does is ``bbx.domain.outcomes.classify_line`` (delivery evidence wins, also over a
  final ``failed``: a correction, see :func:`_correct`);
- redelivery (operators): ``failed → planned`` and ``sent → queued`` (stuck, no result).

Lock order, everywhere: the batch row first, then its messages (no deadlocks between a
sender and a result collector). Callers own the transaction.
"""

from __future__ import annotations

import logging
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from bbx.domain import delivery as rules
from bbx.domain import ids, outcomes
from bbx.domain.chunking import cut_batches
from bbx.domain.globe import BatchResult
from bbx.domain.outcomes import Outcome
from bbx.store import audit

log = logging.getLogger(__name__)

ACTOR = "bbx-delivery"
# SQL lists of outcome names, from the domain's sets (a typo fails at import, not in SQL)
_OPEN = outcomes.sql_list(outcomes.OPEN_OUTCOMES)
_IN_FLIGHT = outcomes.sql_list(outcomes.IN_FLIGHT)
_HANDED_IN = outcomes.sql_list(outcomes.HANDED_IN)


# --------------------------------------------------------------------------- submissions


def waiting_submissions(conn, *, limit: int = 500) -> list[dict]:
    """Accepted submissions that no delivery run has taken yet, oldest first."""
    return conn.execute(
        """SELECT s.id, s.connection_id, s.channel, s.external_ref, s.delivery_held,
                  s.rows_handed_in, s.submitted_by,
                  c.code AS connection_code, c.active AS connection_active, c.approval_threshold
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           WHERE s.status = 'accepted' AND s.delivery_run_id IS NULL
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


def decide_register(conn, submission_id: int, connection_id: int, day: date) -> int:
    """The register decision: planned messages whose BSN is not subscribed to the
    connection on ``day`` (``register_active_on``, the register's one definition) are
    never sent; their final outcome is ``not_subscribed`` (per BSN and message type: the
    message row holds both). Returns how many."""
    return conn.execute(
        """UPDATE messages m
           SET outcome = 'not_subscribed', outcome_code = %(code)s, outcome_reason = %(reason)s,
               final_at = now()
           WHERE m.submission_id = %(submission)s AND m.outcome = 'planned'
             AND NOT EXISTS (SELECT 1 FROM register_active_on(%(connection)s, %(day)s) a
                             WHERE a.bsn = m.bsn)""",
        {
            "submission": submission_id,
            "connection": connection_id,
            "day": day,
            "code": rules.NOT_IN_REGISTER,
            "reason": rules.NOT_IN_REGISTER_REASON.format(day=day.isoformat()),
        },
    ).rowcount


def _standard_sizes(conn, submission_id: int) -> dict[int, list[int]]:
    sizes: dict[int, list[int]] = {}
    for r in conn.execute(
        """SELECT mta.message_type_id, sa.size_bytes
           FROM message_type_attachments mta
           JOIN standard_attachments sa ON sa.id = mta.standard_attachment_id
           WHERE mta.message_type_id IN (SELECT DISTINCT coalesce(m.message_type_id, s.message_type_id)
                                         FROM messages m JOIN submissions s ON s.id = m.submission_id
                                         WHERE m.submission_id = %s AND m.outcome = 'planned')
           ORDER BY mta.message_type_id, mta.position""",
        (submission_id,),
    ):
        sizes.setdefault(r["message_type_id"], []).append(r["size_bytes"])
    return sizes


def _planned_with_sizes(conn, submission_id: int) -> Iterator[tuple[str, int]]:
    """(message pk as text, size bound) of the planned messages, in row order."""
    standard = _standard_sizes(conn, submission_id)
    has_personal = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM message_attachments a JOIN messages m ON m.id = a.message_id
                          WHERE m.submission_id = %s AND m.outcome = 'planned') AS any""",
        (submission_id,),
    ).fetchone()["any"]
    bound_cache: dict[int | None, int] = {}
    if has_personal:
        query = """SELECT m.id, coalesce(m.message_type_id, s.message_type_id) AS type_id,
                          array_remove(array_agg(a.size_bytes ORDER BY a.position), NULL) AS sizes
                   FROM messages m JOIN submissions s ON s.id = m.submission_id
                   LEFT JOIN message_attachments a ON a.message_id = m.id
                   WHERE m.submission_id = %s AND m.outcome = 'planned'
                   GROUP BY m.id, s.message_type_id ORDER BY m.row_number"""
    else:
        query = """SELECT m.id, coalesce(m.message_type_id, s.message_type_id) AS type_id,
                          NULL::int[] AS sizes
                   FROM messages m JOIN submissions s ON s.id = m.submission_id
                   WHERE m.submission_id = %s AND m.outcome = 'planned' ORDER BY m.row_number"""
    with conn.cursor(name=f"plan_{submission_id}") as cursor:
        cursor.itersize = 20_000
        cursor.execute(query, (submission_id,))
        for r in cursor:
            if r["sizes"]:
                yield str(r["id"]), rules.size_bound(r["sizes"], standard.get(r["type_id"], ()))
                continue
            bound = bound_cache.get(r["type_id"])
            if bound is None:
                bound = bound_cache[r["type_id"]] = rules.size_bound((), standard.get(r["type_id"], ()))
            yield str(r["id"]), bound


def _next_batch_number(conn, submission_id: int) -> int:
    return conn.execute(
        "SELECT coalesce(max(batch_number), 0) + 1 AS n FROM batches WHERE submission_id = %s",
        (submission_id,),
    ).fetchone()["n"]


def cut_into_batches(conn, submission_id: int, *, connection_id: int, connection_code: str,
                     kind: str = "initial") -> list[str]:
    """Put the planned messages of a submission into GLOBE batches (``planned → queued``):
    ≤ 1000 messages and ≤ 100 MB each, numbered on from the submission's last batch,
    with deterministic BatchIDs. Returns the new batch ids in order.

    Memory stays small for a million messages: the assignment is kept as two integer
    arrays (message pk, batch index) until it is copied into the database."""
    first = _next_batch_number(conn, submission_id)
    message_pks, batch_index = array("q"), array("i")
    batch_rows: list[tuple] = []
    for planned in cut_batches(_planned_with_sizes(conn, submission_id), first_number=first):
        batch_id = ids.batch_id(connection_code, submission_id, planned.number)
        batch_rows.append((batch_id, connection_id, submission_id, planned.number,
                           len(planned.message_ids), planned.estimated_bytes, kind))
        message_pks.extend(int(m) for m in planned.message_ids)
        batch_index.extend([len(batch_rows) - 1] * len(planned.message_ids))
    if not batch_rows:
        return []
    with conn.cursor().copy(
        "COPY batches (id, connection_id, submission_id, batch_number, message_count, size_bytes, kind)"
        " FROM STDIN"
    ) as copy:
        for row in batch_rows:
            copy.write_row(row)
    _assign(conn, ((pk, batch_rows[i][0]) for pk, i in zip(message_pks, batch_index, strict=True)),
            expected=len(message_pks), from_outcomes=(Outcome.PLANNED,))
    return [row[0] for row in batch_rows]


def _assign(conn, assignments: Iterable[tuple[int, str]], *, expected: int, from_outcomes: Sequence[str]) -> int:
    """Move messages into batches (``→ queued``), one set-based UPDATE."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _batch_assignment (id bigint, batch_id uuid) ON COMMIT DROP")
    conn.execute("TRUNCATE _batch_assignment")
    with conn.cursor().copy("COPY _batch_assignment (id, batch_id) FROM STDIN") as copy:
        for row in assignments:
            copy.write_row(row)
    moved = conn.execute(
        """UPDATE messages m SET outcome = 'queued', batch_id = t.batch_id,
                  send_attempts = m.send_attempts + 1, sent_at = NULL
           FROM _batch_assignment t
           WHERE m.id = t.id AND m.outcome = ANY(%s)""",
        ([Outcome(o).value for o in from_outcomes],),
    ).rowcount
    conn.execute("DROP TABLE _batch_assignment")
    if moved != expected:
        raise RuntimeError(
            f"{expected - moved} of {expected} messages changed state while they were being put into "
            "batches (a second planner?); the transaction is rolled back, run again"
        )
    return moved


def pending_batches(conn, submission_ids: Sequence[int]) -> list[rules.PendingBatch]:
    """Batches of these submissions that were never acknowledged by the adapter."""
    return [
        rules.PendingBatch(str(r["id"]), r["submission_id"], r["batch_number"], r["connection_code"])
        for r in conn.execute(
            """SELECT b.id, b.submission_id, b.batch_number, c.code AS connection_code
               FROM batches b JOIN connections c ON c.id = b.connection_id
               WHERE b.submission_id = ANY(%s) AND b.status = 'planned'
               ORDER BY b.submission_id, b.batch_number""",
            (list(submission_ids),),
        )
    ]


# --------------------------------------------------------------------------- sending


def lock_for_sending(conn, batch_id: str) -> bool:
    """A session-level advisory lock: only one process sends a batch at a time (a killed
    worker's lock goes with its connection). Release with :func:`unlock_after_sending`."""
    return conn.execute(
        "SELECT pg_try_advisory_lock(hashtextextended(%s, 30)) AS ok", (str(batch_id),)
    ).fetchone()["ok"]


def unlock_after_sending(conn, batch_id: str) -> None:
    conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 30))", (str(batch_id),))


def batch(conn, batch_id: str) -> dict | None:
    return conn.execute(
        """SELECT b.*, c.code AS connection_code, c.oin, s.channel, s.external_ref
           FROM batches b JOIN connections c ON c.id = b.connection_id
           JOIN submissions s ON s.id = b.submission_id
           WHERE b.id = %s""",
        (batch_id,),
    ).fetchone()


def batch_messages(conn, batch_id: str) -> list[dict]:
    """The messages still to send in a batch, in row order, with what building needs
    (personal content still encrypted)."""
    return conn.execute(
        f"""SELECT m.id, m.message_id::text AS message_id, m.bsn, m.row_number,
                  coalesce(m.subject, mt.subject) AS subject, m.text_encrypted, mt.standard_text,
                  m.reference, m.publication_date, mt.code AS type_code, mt.id AS type_id, m.purged_at
           FROM messages m JOIN submissions s ON s.id = m.submission_id
           JOIN message_types mt ON mt.id = coalesce(m.message_type_id, s.message_type_id)
           WHERE m.batch_id = %s AND m.outcome IN {_IN_FLIGHT}
           ORDER BY m.row_number""",
        (batch_id,),
    ).fetchall()


def personal_attachments(conn, message_pks: Sequence[int]) -> dict[int, list[dict]]:
    found: dict[int, list[dict]] = {}
    for r in conn.execute(
        """SELECT message_id, position, content_encrypted FROM message_attachments
           WHERE message_id = ANY(%s) ORDER BY message_id, position""",
        (list(message_pks),),
    ):
        found.setdefault(r["message_id"], []).append(r)
    return found


def reject_unsendable(conn, batch_id: str, rejections: dict[int, str]) -> int:
    """Messages found invalid while their batch was built: ``queued → rejected``."""
    if not rejections:
        return 0
    pks = list(rejections)
    conn.execute("SELECT 1 FROM batches WHERE id = %s FOR UPDATE", (batch_id,))  # lock order: batch first
    moved = conn.execute(
        """UPDATE messages m SET outcome = 'rejected', outcome_code = %s, outcome_reason = r.reason,
                  final_at = now(), batch_id = NULL
           FROM unnest(%s::bigint[], %s::text[]) AS r(id, reason)
           WHERE m.id = r.id AND m.batch_id = %s AND m.outcome = 'queued'""",
        (rules.BUILD_REJECTED, pks, [rejections[p] for p in pks], batch_id),
    ).rowcount
    left = conn.execute(
        "SELECT count(*) AS n FROM messages WHERE batch_id = %s", (batch_id,)
    ).fetchone()["n"]
    if left:
        conn.execute("UPDATE batches SET message_count = %s WHERE id = %s", (left, batch_id))
    else:
        conn.execute("UPDATE batches SET status = 'failed', last_error = %s WHERE id = %s",
                     ("every message of the batch was found unsendable", batch_id))
    return moved


def mark_sent(conn, batch_id: str, *, ebms_message_id: str, size_bytes: int) -> int:
    """The adapter acknowledged the batch: ``queued → sent``. Returns messages moved.
    (A result may have come first: then the batch already has its result, and its
    messages their outcomes; nothing is moved back.)"""
    conn.execute(
        """UPDATE batches SET status = CASE WHEN status = 'planned' THEN 'sent' ELSE status END,
                  sent_at = coalesce(sent_at, now()), ebms_message_id = %s, size_bytes = %s,
                  send_attempts = send_attempts + 1, last_error = NULL
           WHERE id = %s""",
        (ebms_message_id, size_bytes, batch_id),
    )
    return conn.execute(
        "UPDATE messages SET outcome = 'sent', sent_at = now() WHERE batch_id = %s AND outcome = 'queued'",
        (batch_id,),
    ).rowcount


def record_send_error(conn, batch_id: str, error: str) -> None:
    conn.execute(
        "UPDATE batches SET send_attempts = send_attempts + 1, last_error = %s WHERE id = %s",
        (error[:2000], batch_id),
    )


def pending_resend_batches(conn, connection_id: int) -> list[str]:
    """Resend batches (TechnischProbleem) of a connection that still wait to be sent."""
    return [
        str(r["id"])
        for r in conn.execute(
            """SELECT id FROM batches WHERE connection_id = %s AND kind = 'resend' AND status = 'planned'
               ORDER BY created_at, id""",
            (connection_id,),
        )
    ]


# --------------------------------------------------------------------------- results


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
            "SELECT count(*) AS n FROM messages WHERE batch_id = %s AND outcome = ANY(%s)",
            (b, [o.value for o in outcomes.OPEN_OUTCOMES]),
        ).fetchone()["n"]
        if not left:
            conn.execute(
                """UPDATE batches SET status = 'failed',
                          last_error = 'not sent: its messages were delivered by an earlier send'
                   WHERE id = %s AND status = 'planned'""",
                (b,),
            )


def _correct(conn, corrections: list[tuple[dict, outcomes.ResultDecision]], *, batch_id: str,
             ebms_message_id: str, connection_id: int) -> None:
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
                  result: BatchResult, max_attempts: int) -> ResultSummary:
    """Apply one ``GLOBE-R-BV-Result`` (call in one transaction, before processMessage).

    Idempotent: a result already recorded (same ebMS id) changes nothing; a duplicate
    result (new ebMS id, same payload) finds its messages final or moved on and is
    ignored; a result for a batch BBX does not know is recorded and ignored.
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
            """SELECT b.id, b.submission_id, b.connection_id, c.code AS connection_code
               FROM batches b JOIN connections c ON c.id = b.connection_id
               WHERE b.id = %s FOR UPDATE OF b""",
            (result.batch_id,),
        ).fetchone()
    if batch_row is None or batch_row["connection_id"] != connection_id:
        summary.known_batch = False
        summary.ignored = len(result.messages)
        conn.execute(
            "UPDATE delivery_results SET ignored = %s, problems = %s WHERE ebms_message_id = %s",
            (summary.ignored, "result for a batch this connection never sent", ebms_message_id),
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
            """SELECT id, message_id::text AS message_id, bsn, outcome, outcome_code,
                      batch_id::text AS batch_id, send_attempts, submission_id
               FROM messages WHERE message_id = ANY(%s::uuid[]) FOR UPDATE""",
            (wanted,),
        )
    }
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

    if finals:
        # Delivery evidence may come from an earlier batch than the one the message is in
        # now (it moved on to a resend batch): it is recorded against the batch it came
        # from, and an unsent resend batch left without messages is closed.
        conn.execute(
            """UPDATE messages m SET outcome = v.outcome, outcome_code = v.code,
                      outcome_reason = v.reason, final_at = now(), batch_id = %s
               FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS v(id, outcome, code, reason)
               WHERE m.id = v.id AND m.outcome = ANY(%s)""",
            (batch_id, [f[0] for f in finals], [f[1] for f in finals], [f[2] for f in finals],
             [f[3] for f in finals], [o.value for o in outcomes.OPEN_OUTCOMES]),
        )
        batch_of = {r["id"]: r["batch_id"] for r in rows.values()}
        _close_emptied_batches(conn, {batch_of[f[0]] for f in finals if batch_of[f[0]]} - {batch_id})
    if corrections:
        _correct(conn, corrections, batch_id=batch_id, ebms_message_id=ebms_message_id,
                 connection_id=connection_id)
        summary.corrected = len(corrections)
    if reading.problems:
        summary.attention.extend(reading.problems)
    if contradictions:
        summary.attention.append(
            f"{len(contradictions)} result line(s) contradict a final outcome, left as they are: "
            + "; ".join(contradictions[:5]))
    if doubts:
        from bbx.store import register

        for bsn, message_id in doubts:
            register.record_doubt(conn, connection_id, bsn, message_id=message_id,
                                  source="GLOBE-R-BV-Result NietActiefOfGeabonneerd")
    if retry:
        number = _next_batch_number(conn, submission_id)
        resend_id = ids.batch_id(batch_row["connection_code"], submission_id, number)
        conn.execute(
            """INSERT INTO batches (id, connection_id, submission_id, batch_number, message_count, kind)
               VALUES (%s, %s, %s, %s, %s, 'resend')""",
            (resend_id, connection_id, submission_id, number, len(retry)),
        )
        _assign(conn, [(pk, resend_id) for pk, _ in retry], expected=len(retry), from_outcomes=(Outcome.QUEUED, Outcome.SENT))
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
    """Connections whose results to read: the given ones; those of the given
    submissions; or else every active connection with a submission being delivered or a
    batch sent within ``recent_days`` (late duplicates are acknowledged too)."""
    if connection_ids is not None:
        return conn.execute("SELECT id, code, oin FROM connections WHERE id = ANY(%s) ORDER BY code",
                            (list(connection_ids),)).fetchall()
    if submission_ids is not None:
        return conn.execute(
            """SELECT DISTINCT c.id, c.code, c.oin FROM connections c JOIN submissions s ON s.connection_id = c.id
               WHERE s.id = ANY(%s) ORDER BY c.code""",
            (list(submission_ids),),
        ).fetchall()
    return conn.execute(
        """SELECT c.id, c.code, c.oin FROM connections c
           WHERE c.active AND (
               EXISTS (SELECT 1 FROM submissions s WHERE s.connection_id = c.id AND s.status = 'delivering')
            OR EXISTS (SELECT 1 FROM batches b WHERE b.connection_id = c.id
                       AND b.sent_at > now() - make_interval(days => %s)))
           ORDER BY c.code""",
        (recent_days,),
    ).fetchall()


# --------------------------------------------------------------------------- reconciliation


def closable_submissions(conn, *, connection_id: int | None = None,
                         submission_ids: Sequence[int] | None = None) -> list[int]:
    """Submissions being delivered whose messages all have a final outcome."""
    where, params = ["s.status = 'delivering'"], []
    if connection_id is not None:
        where.append("s.connection_id = %s")
        params.append(connection_id)
    if submission_ids is not None:
        where.append("s.id = ANY(%s)")
        params.append(list(submission_ids))
    return [
        r["id"]
        for r in conn.execute(
            f"""SELECT s.id FROM submissions s WHERE {' AND '.join(where)}
                AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.submission_id = s.id
                                AND m.outcome IN {_OPEN})
                ORDER BY s.id""",
            params,
        )
    ]


def unreported_submissions(conn, *, connection_id: int | None = None,
                           submission_ids: Sequence[int] | None = None) -> list[dict]:
    """Closed submissions whose result file is not yet in the tenant's outbox."""
    where, params = ["s.status = 'closed'", "s.results_written_at IS NULL",
                     "s.channel IN ('sftp', 'manual', 'api')",
                     "s.kind = 'messages'"], []  # a population list (issue 16) has no results
    if connection_id is not None:
        where.append("s.connection_id = %s")
        params.append(connection_id)
    if submission_ids is not None:
        where.append("s.id = ANY(%s)")
        params.append(list(submission_ids))
    return conn.execute(
        f"""SELECT s.id, s.external_ref, s.channel, s.connection_id, c.code AS connection_code,
                   c.sftp_folder, t.code AS tenant_code, d.name AS drop_name, s.results_version
            FROM submissions s JOIN connections c ON c.id = s.connection_id
            JOIN tenants t ON t.id = c.tenant_id
            LEFT JOIN sftp_drops d ON d.submission_id = s.id
            WHERE {' AND '.join(where)} ORDER BY s.id""",
        params,
    ).fetchall()


def result_rows(conn, submission_id: int, *, undeliverable_only: bool = False,
                with_corrections: bool = False) -> Iterator[dict]:
    """One dict per input row with its outcome, in row order (server-side cursor).

    ``undeliverable_only``: the paper-mail list, :data:`bbx.domain.outcomes.UNDELIVERABLE`.
    ``with_corrections``: each row also carries ``corrected_from``/``corrected_from_code``
    when its outcome was corrected since the last result file the tenant got."""
    params: list = [submission_id]
    extra = ""
    if undeliverable_only:
        extra = " AND m.outcome = ANY(%s)"
        params.append([o.value for o in outcomes.UNDELIVERABLE])
    correction = "NULL::text AS corrected_from, NULL::text AS corrected_from_code"
    join = ""
    if with_corrections:
        correction = "c.from_outcome AS corrected_from, c.from_code AS corrected_from_code"
        join = """LEFT JOIN LATERAL (SELECT from_outcome, from_code FROM outcome_corrections oc
                                     WHERE oc.message_id = m.id AND oc.reported_in_version IS NULL
                                     ORDER BY oc.id LIMIT 1) c ON true"""
    with conn.cursor(name=f"results_{submission_id}_{int(undeliverable_only)}") as cursor:
        cursor.itersize = 20_000
        cursor.execute(
            f"""SELECT m.row_number, m.bsn, m.outcome, m.outcome_code, m.outcome_reason,
                       m.message_id::text AS message_id, m.final_at, {correction}
                FROM messages m {join} WHERE m.submission_id = %s{extra} ORDER BY m.row_number""",
            params,
        )
        yield from cursor


def mark_results_written(conn, submission_id: int, files: Iterable[str], *, version: int = 1) -> None:
    """The result file ``version`` is in the outbox; the corrections it reports are told."""
    conn.execute("""UPDATE submissions SET results_written_at = now(), results_purged_at = NULL,
                           results_version = %s WHERE id = %s""",
                 (version, submission_id))
    told = conn.execute(
        """UPDATE outcome_corrections SET reported_in_version = %s
           WHERE submission_id = %s AND reported_in_version IS NULL""",
        (version, submission_id),
    ).rowcount
    audit.record(conn, actor=ACTOR, action="submission.results_written", submission_id=submission_id,
                 details={"files": list(files), "version": version, "corrections_reported": told})


def results_to_purge(conn, *, limit: int = 1000) -> list[dict]:
    """Submissions whose result files are older than their connection's retention."""
    return conn.execute(
        """SELECT s.id, s.channel, s.connection_id, c.code AS connection_code, c.sftp_folder,
                  d.name AS drop_name, s.results_version
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           LEFT JOIN sftp_drops d ON d.submission_id = s.id
           WHERE s.results_written_at IS NOT NULL AND s.results_purged_at IS NULL
             AND s.results_written_at < now() - make_interval(days => c.retention_days)
           ORDER BY s.results_written_at LIMIT %s""",
        (limit,),
    ).fetchall()


def mark_results_purged(conn, submission_id: int, files: Iterable[str]) -> None:
    conn.execute("UPDATE submissions SET results_purged_at = now() WHERE id = %s", (submission_id,))
    audit.record(conn, actor=ACTOR, action="submission.results_purged", submission_id=submission_id,
                 details={"files": list(files)})


def progress(conn, submission_ids: Sequence[int]) -> list[dict]:
    """Per submission: status, rows handed in and rows per outcome (for operators)."""
    rows = conn.execute(
        """SELECT s.id, s.status, s.channel, s.rows_handed_in, s.delivery_held, c.code AS connection_code,
                  count(*) FILTER (WHERE m.outcome = 'planned') AS planned,
                  count(*) FILTER (WHERE m.outcome = 'queued') AS queued,
                  count(*) FILTER (WHERE m.outcome = 'sent') AS sent,
                  count(*) FILTER (WHERE m.outcome = 'delivered') AS delivered,
                  count(*) FILTER (WHERE m.outcome = 'not_subscribed') AS not_subscribed,
                  count(*) FILTER (WHERE m.outcome = 'failed') AS failed,
                  count(*) FILTER (WHERE m.outcome = 'rejected') AS rejected
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           LEFT JOIN messages m ON m.submission_id = s.id
           WHERE s.id = ANY(%s) GROUP BY s.id, c.code ORDER BY s.id""",
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


# --------------------------------------------------------------------------- redelivery

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
            number = _next_batch_number(conn, submission_id)
            new_id = ids.batch_id(sub["connection_code"], submission_id, number)
            conn.execute(
                """INSERT INTO batches (id, connection_id, submission_id, batch_number, message_count, kind)
                   VALUES (%s, %s, %s, %s, %s, 'resend')""",
                (new_id, sub["connection_id"], submission_id, number, len(pks)),
            )
            _assign(conn, [(pk, new_id) for pk in pks], expected=len(pks), from_outcomes=(Outcome.SENT,))
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


def submission_to_plan(conn, submission_id: int) -> dict | None:
    """A submission with its connection's code, as ``plan_submission`` takes it."""
    return conn.execute(
        """SELECT s.id, s.connection_id, c.code AS connection_code FROM submissions s
           JOIN connections c ON c.id = s.connection_id WHERE s.id = %s""",
        (submission_id,),
    ).fetchone()
