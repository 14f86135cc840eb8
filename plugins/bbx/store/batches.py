"""Delivery in the database: planning and sending GLOBE batches (set-based SQL).

The moves of a message (``bbx.domain.outcomes``) happen here and in
:mod:`bbx.store.results` / :mod:`bbx.store.redelivery`, each guarded by the state it must
be in, so a rerun or a second worker never applies a move twice:

- plan: ``planned → not_subscribed`` (register decision on the send date) and
  ``planned → queued`` (cut into GLOBE batches with ``bbx.domain.chunking``);
- send: ``queued → sent`` when the ebMS adapter acknowledged the batch.

Lock order, everywhere: the batch row first, then its messages (no deadlocks between a
sender and a result collector). Callers own the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

from bbx.domain import delivery as rules
from bbx.domain import ids, outcomes
from bbx.domain.chunking import cut_batches
from bbx.domain.outcomes import Outcome

ACTOR = "bbx-delivery"

# SQL lists of outcome names, from the domain's sets (a typo fails at import, not in SQL)
_IN_FLIGHT = outcomes.sql_list(outcomes.IN_FLIGHT)

# The messages of a batch (migration 260): no index names batch_id, so a batch is found as
# a row range of its submission (UNIQUE (submission_id, row_number)), filtered on batch_id
# (a resend batch's range may overlap older batches). IN_RANGE takes the range as values
# (batch_range): the planner then always scans just the range, whatever its statistics say
# (joined to batches, a stale estimate made it scan the whole submission per batch).
# IN_BATCH is the same condition against a batches row ``b``, for a LATERAL subquery, where
# ``b``'s columns are the only way in.
IN_RANGE = ("m.submission_id = %(submission)s AND m.row_number BETWEEN %(first_row)s AND %(last_row)s"
            " AND m.batch_id = %(batch)s")
IN_BATCH = "m.submission_id = b.submission_id AND m.row_number BETWEEN b.first_row AND b.last_row AND m.batch_id = b.id"


def batch_range(conn, batch_id: str) -> dict:
    """The parameters of :data:`IN_RANGE` for ``batch_id`` (LookupError: no such batch)."""
    found = conn.execute(
        "SELECT id AS batch, submission_id AS submission, first_row, last_row FROM batches WHERE id = %s",
        (batch_id,),
    ).fetchone()
    if found is None:
        raise LookupError(f"batch {batch_id} does not exist")
    return found


# --------------------------------------------------------------------------- planning


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
    """(row number as text, size bound) of the planned messages, in row order."""
    standard = _standard_sizes(conn, submission_id)
    has_personal = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM message_attachments a JOIN messages m ON m.id = a.message_id
                          WHERE m.submission_id = %s AND m.outcome = 'planned') AS any""",
        (submission_id,),
    ).fetchone()["any"]
    # the submission's own type once, not joined per message (a fresh submission has no
    # statistics yet: the join was planned as a loop over 100k lookups of one row)
    submission_type = conn.execute(
        "SELECT message_type_id FROM submissions WHERE id = %s", (submission_id,)
    ).fetchone()["message_type_id"]
    bound_cache: dict[int | None, int] = {}
    if has_personal:
        query = """SELECT m.id, m.row_number, coalesce(m.message_type_id, %s) AS type_id,
                          array_remove(array_agg(a.size_bytes ORDER BY a.position), NULL) AS sizes
                   FROM messages m LEFT JOIN message_attachments a ON a.message_id = m.id
                   WHERE m.submission_id = %s AND m.outcome = 'planned'
                   GROUP BY m.id ORDER BY m.row_number"""
    else:
        query = """SELECT m.row_number, coalesce(m.message_type_id, %s) AS type_id, NULL::int[] AS sizes
                   FROM messages m
                   WHERE m.submission_id = %s AND m.outcome = 'planned' ORDER BY m.row_number"""
    with conn.cursor(name=f"plan_{submission_id}") as cursor:
        cursor.itersize = 20_000
        cursor.execute(query, (submission_type, submission_id))
        for r in cursor:
            if r["sizes"]:
                yield str(r["row_number"]), rules.size_bound(r["sizes"], standard.get(r["type_id"], ()))
                continue
            bound = bound_cache.get(r["type_id"])
            if bound is None:
                bound = bound_cache[r["type_id"]] = rules.size_bound((), standard.get(r["type_id"], ()))
            yield str(r["row_number"]), bound


def next_batch_number(conn, submission_id: int) -> int:
    return conn.execute(
        "SELECT coalesce(max(batch_number), 0) + 1 AS n FROM batches WHERE submission_id = %s",
        (submission_id,),
    ).fetchone()["n"]


def cut_into_batches(conn, submission_id: int, *, connection_id: int, connection_code: str,
                     kind: str = "initial") -> list[str]:
    """Put the planned messages of a submission into GLOBE batches (``planned → queued``):
    ≤ 1000 messages and ≤ 100 MB each, numbered on from the submission's last batch,
    with deterministic BatchIDs. Returns the new batch ids in order.

    The planned messages are cut in row order, so each batch is a row range of the
    submission (``first_row`` .. ``last_row``): the planned messages in that range are
    exactly the batch's. One UPDATE joins the messages to their batches' ranges (no list
    of a million message ids is sent back); the caller holds the submission's lock, so
    nothing else moves a planned message meanwhile, and the count is checked."""
    first = next_batch_number(conn, submission_id)
    batch_rows: list[tuple] = []
    expected = 0
    for planned in cut_batches(_planned_with_sizes(conn, submission_id), first_number=first):
        batch_id = ids.batch_id(connection_code, submission_id, planned.number)
        batch_rows.append((batch_id, connection_id, submission_id, planned.number,
                           len(planned.message_ids), planned.estimated_bytes, kind,
                           int(planned.message_ids[0]), int(planned.message_ids[-1])))
        expected += len(planned.message_ids)
    if not batch_rows:
        return []
    with conn.cursor().copy(
        "COPY batches (id, connection_id, submission_id, batch_number, message_count, size_bytes, kind,"
        " first_row, last_row) FROM STDIN"
    ) as copy:
        for row in batch_rows:
            copy.write_row(row)
    moved = conn.execute(
        """UPDATE messages m SET outcome = 'queued', batch_id = b.id,
                  send_attempts = m.send_attempts + 1, sent_at = NULL
           FROM batches b
           WHERE b.submission_id = %s AND b.batch_number >= %s
             AND m.submission_id = b.submission_id AND m.row_number BETWEEN b.first_row AND b.last_row
             AND m.outcome = 'planned'""",
        (submission_id, first),
    ).rowcount
    _check_moved(moved, expected)
    return [row[0] for row in batch_rows]


def new_resend_batch(conn, *, connection_id: int, connection_code: str, submission_id: int,
                     message_pks: Sequence[int], from_outcomes: Sequence[str]) -> str:
    """A resend batch (``kind='resend'``, a new BatchID) for these messages of a submission
    (``→ queued``, same BerichtIDs). Its row range spans them and may overlap older batches."""
    number = next_batch_number(conn, submission_id)
    batch_id = ids.batch_id(connection_code, submission_id, number)
    conn.execute(
        """INSERT INTO batches (id, connection_id, submission_id, batch_number, message_count, kind,
                                first_row, last_row)
           SELECT %s, %s, %s, %s, %s, 'resend', min(row_number), max(row_number)
           FROM messages WHERE id = ANY(%s) AND submission_id = %s""",
        (batch_id, connection_id, submission_id, number, len(message_pks), list(message_pks), submission_id),
    )
    moved = conn.execute(
        """UPDATE messages m SET outcome = 'queued', batch_id = %s, send_attempts = m.send_attempts + 1,
                  sent_at = NULL
           WHERE m.id = ANY(%s) AND m.submission_id = %s AND m.outcome = ANY(%s)""",
        (batch_id, list(message_pks), submission_id, [Outcome(o).value for o in from_outcomes]),
    ).rowcount
    _check_moved(moved, len(message_pks))
    return batch_id


def _check_moved(moved: int, expected: int) -> None:
    if moved != expected:
        raise RuntimeError(
            f"{expected - moved} of {expected} messages changed state while they were being put into "
            "batches (a second planner?); the transaction is rolled back, run again"
        )


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
        """SELECT b.*, c.code AS connection_code, c.oin, c.cpa_id, s.channel, s.external_ref, s.sandbox,
                  s.cancel_requested_at, s.cancelled_by
           FROM batches b JOIN connections c ON c.id = b.connection_id
           JOIN submissions s ON s.id = b.submission_id
           WHERE b.id = %s""",
        (batch_id,),
    ).fetchone()


def batch_messages(conn, batch_id: str) -> list[dict]:
    """The messages still to send in a batch, in row order, with what building needs
    (personal content still encrypted; ``has_own``: it has personal PDFs, see
    :func:`personal_attachments`)."""
    return conn.execute(
        f"""SELECT m.id, m.message_id::text AS message_id, m.bsn, m.row_number,
                  EXISTS (SELECT 1 FROM message_attachments a WHERE a.message_id = m.id) AS has_own,
                  coalesce(m.subject, mt.subject) AS subject, m.text_encrypted,
                  CASE WHEN v.id IS NULL THEN mt.standard_text ELSE v.text END AS standard_text,
                  m.reference, m.publication_date, mt.code AS type_code, mt.id AS type_id, m.purged_at
           FROM messages m JOIN submissions s ON s.id = m.submission_id
           JOIN message_types mt ON mt.id = coalesce(m.message_type_id, s.message_type_id)
           LEFT JOIN standard_text_versions v ON v.id = m.standard_text_version_id
           WHERE {IN_RANGE} AND m.outcome IN {_IN_FLIGHT}
           ORDER BY m.row_number""",
        batch_range(conn, batch_id),
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
        f"SELECT count(*) AS n FROM messages m WHERE {IN_RANGE}", batch_range(conn, batch_id)
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
    rows = conn.execute(
        """UPDATE batches SET status = CASE WHEN status = 'planned' THEN 'sent' ELSE status END,
                  sent_at = coalesce(sent_at, now()), ebms_message_id = %s, size_bytes = %s,
                  send_attempts = send_attempts + 1, last_error = NULL
           WHERE id = %s RETURNING id AS batch, submission_id AS submission, first_row, last_row""",
        (ebms_message_id, size_bytes, batch_id),
    ).fetchone()
    return conn.execute(
        f"UPDATE messages m SET outcome = 'sent', sent_at = now() WHERE {IN_RANGE} AND m.outcome = 'queued'", rows,
    ).rowcount


def record_send_error(conn, batch_id: str, error: str) -> None:
    conn.execute(
        "UPDATE batches SET send_attempts = send_attempts + 1, last_error = %s WHERE id = %s",
        (error[:2000], batch_id),
    )


def pending_resend_batches(conn, connection_id: int, *, sandbox: bool = False) -> list[str]:
    """Resend batches (TechnischProbleem) of a connection's live (or sandbox) submissions
    that still wait to be sent."""
    return [
        str(r["id"])
        for r in conn.execute(
            """SELECT b.id FROM batches b JOIN submissions s ON s.id = b.submission_id
               WHERE b.connection_id = %s AND b.kind = 'resend' AND b.status = 'planned' AND s.sandbox = %s
               ORDER BY b.created_at, b.id""",
            (connection_id, sandbox),
        )
    ]


def submission_to_plan(conn, submission_id: int) -> dict | None:
    """A submission with its connection's code, as ``plan_submission`` takes it."""
    return conn.execute(
        """SELECT s.id, s.connection_id, c.code AS connection_code FROM submissions s
           JOIN connections c ON c.id = s.connection_id WHERE s.id = %s""",
        (submission_id,),
    ).fetchone()
