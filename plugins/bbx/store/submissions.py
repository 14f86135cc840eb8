"""Submissions (hand-ins) and their rows, for every channel (sftp, manual, api).

Every channel goes through these functions, so there is one way to log what was
handed in and one way to turn rows into messages. Rows are written with COPY (a
million-row drop must be fast); personal texts and PDFs are encrypted before they
reach the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from bbx import crypto
from bbx.domain import ids
from bbx.domain.outcomes import FINAL_OUTCOMES, Outcome
from bbx.store import audit, callbacks, db


@dataclass(frozen=True)
class PersonalAttachment:
    position: int  # 1 or 2
    file_name: str
    content: bytes = field(repr=False)  # b"" when ``read`` gives it (a streamed request's spool)
    sha256: str
    size: int | None = None  # None: len(content)
    read: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)
    # the content already encrypted with bbx.crypto (stored as it is); None: encrypted here
    encrypted: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    def sealed(self) -> bytes:
        """The content encrypted for the database, read only now (never all PDFs at once)."""
        if self.encrypted is not None:
            return self.encrypted()
        return crypto.encrypt(self.read() if self.read is not None else self.content)


class NewRow(NamedTuple):
    """One row as handed in: accepted (bsn set, rejection None) or rejected (with reason).

    A named tuple, not a frozen dataclass: a million-row list makes a million of them, and
    a frozen dataclass costs three times as much to make (issue 17)."""

    row_number: int
    bsn: str | None
    rejection: str | None = None
    subject: str | None = None  # None: the message type's subject
    text: str | None = None  # personal text; None: the message type's standard text
    reference: str | None = None
    attachments: tuple[PersonalAttachment, ...] = ()


#: The fields after ``bsn`` of the common row: accepted, the message type's subject and text.
_PLAIN = (None, None, None, None, ())


@dataclass(frozen=True)
class Submission:
    id: int
    created: bool  # False: the same hand-in was seen before (same channel + external_ref)
    status: str


def open_submission(conn, *, connection_id: int, channel: str, external_ref: str | None,
                    submitted_by: str, message_type_id: int | None = None, sandbox: bool = False) -> Submission:
    """Log a new hand-in, or return the existing one for the same (channel, external_ref)
    of the same kind: a ``sandbox`` hand-in (a *test* key's) never meets a live one."""
    row = conn.execute(
        """INSERT INTO submissions (connection_id, message_type_id, channel, external_ref, submitted_by, sandbox)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (connection_id, channel, sandbox, external_ref) DO NOTHING
           RETURNING id, status""",
        (connection_id, message_type_id, channel, external_ref, submitted_by, sandbox),
    ).fetchone()
    if row:
        details = {"channel": channel, "external_ref": external_ref} | ({"sandbox": True} if sandbox else {})
        audit.record(conn, actor=submitted_by, action="submission.received", connection_id=connection_id,
                     submission_id=row["id"], details=details)
        return Submission(row["id"], True, row["status"])
    existing = conn.execute(
        """SELECT id, status FROM submissions
           WHERE connection_id = %s AND channel = %s AND sandbox = %s AND external_ref = %s""",
        (connection_id, channel, sandbox, external_ref),
    ).fetchone()
    return Submission(existing["id"], False, existing["status"])


def first_received_at(conn, *, connection_id: int, channel: str, external_ref: str,
                      sandbox: bool = False):
    """When the hand-in under this (channel, external_ref) was received, or None (a new one)."""
    row = conn.execute(
        """SELECT received_at FROM submissions
           WHERE connection_id = %s AND channel = %s AND sandbox = %s AND external_ref = %s""",
        (connection_id, channel, sandbox, external_ref),
    ).fetchone()
    return row["received_at"] if row else None


def record_file(conn, submission_id: int, *, file_name: str, role: str, size_bytes: int, sha256: str) -> None:
    conn.execute(
        """INSERT INTO submission_files (submission_id, file_name, role, size_bytes, sha256)
           VALUES (%s, %s, %s, %s, %s) ON CONFLICT (submission_id, file_name) DO NOTHING""",
        (submission_id, file_name, role, size_bytes, sha256),
    )


def add_rows(conn, submission_id: int, *, connection_code: str, connection_id: int,
             message_type_id: int | None, rows: Iterable[NewRow],
             standard_text_version_id: int | None) -> dict[str, int]:
    """Write rows as messages (accepted → 'planned', rejected → 'rejected' with reason).

    Accepted rows record ``standard_text_version_id``: the version the caller checked and
    filled them with (``bbx.store.handins.message_type``, read with the text in one
    statement), so a version uploaded meanwhile cannot slip in between.

    Idempotent per submission: rows already written (same row_number) are skipped, so a
    task that crashed half-way can simply run again. Returns counts {accepted, rejected}.
    """
    done = {r["row_number"] for r in conn.execute("SELECT row_number FROM messages WHERE submission_id = %s", (submission_id,))}
    accepted = rejected = 0
    attachments: list[tuple[int, PersonalAttachment]] = []
    columns = ("submission_id", "connection_id", "message_type_id", "row_number", "bsn", "message_id",
               "subject", "text_encrypted", "reference", "outcome", "outcome_code", "outcome_reason", "final_at",
               "standard_text_version_id")
    # COPY text lines built here and written in blocks of _COPY_BLOCK_ROWS (one write per
    # block, not one formatted row per call: issue 17); the columns every row shares once.
    # The writes overlap: the next block is built while PostgreSQL takes the last one.
    head = f"{submission_id}\t{connection_id}\t{_copy_text(message_type_id)}\t"
    planned = f"\tplanned\t\\N\t\\N\t\\N\t{_copy_text(standard_text_version_id)}\n"
    plain = "\t\\N\t\\N\t\\N" + planned  # no subject, text or reference of its own
    message_id = ids.message_ids(connection_code, submission_id, hyphens=False)
    block: list[str] = []
    add = block.append
    with db.overlapped_copy(conn, f"COPY messages ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            if done and row.row_number in done:
                continue
            if row[2:] == _PLAIN:  # the common row of a BSN list, built cheaply
                accepted += 1
                bsn = row.bsn
                add(f"{head}{row.row_number}\t{bsn}\t{message_id(bsn)}{plain}")
            elif row.rejection:
                rejected += 1
                add(f"{head}{row.row_number}\t{_copy_text(row.bsn)}\t\\N\t\\N\t\\N\t\\N\trejected\t"
                    f"validation\t{_copy_text(row.rejection)}\tnow\t\\N\n")
            else:
                accepted += 1
                text = crypto.encrypt(row.text) if row.text is not None else None
                add(f"{head}{row.row_number}\t{row.bsn}\t{message_id(row.bsn)}\t{_copy_text(row.subject)}\t"
                    f"{_copy_text(text)}\t{_copy_text(row.reference)}{planned}")
                if row.attachments:
                    attachments.extend((row.row_number, a) for a in row.attachments)
            if len(block) >= _COPY_BLOCK_ROWS:
                copy.write("".join(block))
                block.clear()
        if block:
            copy.write("".join(block))
    if attachments:
        _add_attachments(conn, submission_id, attachments)
    return {"accepted": accepted, "rejected": rejected}


_COPY_BLOCK_ROWS = 5_000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: object) -> str:
    """One value in COPY's text format: NULL as \\N, bytes as bytea hex, special characters escaped."""
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return str(value).translate(_COPY_ESCAPES)


def _add_attachments(conn, submission_id: int, attachments: list[tuple[int, PersonalAttachment]]) -> None:
    ids_by_row = {
        r["row_number"]: r["id"]
        for r in conn.execute("SELECT id, row_number FROM messages WHERE submission_id = %s", (submission_id,))
    }
    with conn.cursor().copy(
        "COPY message_attachments (message_id, position, file_name, size_bytes, sha256, content_encrypted) FROM STDIN"
    ) as copy:
        for row_number, att in attachments:
            copy.write_row((ids_by_row[row_number], att.position, att.file_name,
                            att.size if att.size is not None else len(att.content), att.sha256, att.sealed()))


def accept(conn, submission_id: int, *, rows_handed_in: int, actor: str) -> None:
    """The submission's rows are all written: it is ready for delivery."""
    written = conn.execute("SELECT count(*) AS n FROM messages WHERE submission_id = %s", (submission_id,)).fetchone()["n"]
    if written != rows_handed_in:
        raise RuntimeError(f"submission {submission_id}: {written} rows written but {rows_handed_in} handed in")
    conn.execute(
        "UPDATE submissions SET status = 'accepted', rows_handed_in = %s WHERE id = %s AND status = 'received'",
        (rows_handed_in, submission_id),
    )
    audit.record(conn, actor=actor, action="submission.accepted", submission_id=submission_id,
                 details={"rows_handed_in": rows_handed_in})
    callbacks.submission_accepted(conn, submission_id, rows_handed_in)  # the tenant's callback, if any


def reject(conn, submission_id: int, *, reason: str, actor: str) -> None:
    """Reject a whole hand-in (e.g. a broken manifest): nothing of it is sent."""
    conn.execute(
        "UPDATE submissions SET status = 'rejected', status_reason = %s, rows_handed_in = 0 WHERE id = %s",
        (reason, submission_id),
    )
    audit.refused(conn, actor=actor, action="submission.rejected", submission_id=submission_id, reason=reason,
                  details={"reason": reason})


def outcome_counts(conn, submission_id: int) -> dict[str, int]:
    """Rows per outcome, every outcome present (0 where none)."""
    counts = dict.fromkeys((o.value for o in Outcome), 0)
    for r in conn.execute("SELECT outcome, count(*) AS n FROM messages WHERE submission_id = %s GROUP BY outcome", (submission_id,)):
        counts[r["outcome"]] = r["n"]
    return counts


def row_counts(rows_handed_in: int | None, counts: dict[str, int]) -> dict[str, int]:
    """The one definition of a submission's row counts, for every report: rows handed in
    (0 for a hand-in rejected as a whole: none of its rows was taken in), of which rejected
    (with a reason) and accepted (all other outcomes)."""
    rejected = counts.get("rejected", 0)
    return {"handed_in": rows_handed_in or 0, "accepted": sum(counts.values()) - rejected, "rejected": rejected}


def is_reconciled(conn, submission_id: int, counts: dict[str, int] | None = None) -> bool:
    """rejected + not_subscribed + delivered + failed + cancelled = rows handed in."""
    sub = conn.execute("SELECT rows_handed_in FROM submissions WHERE id = %s", (submission_id,)).fetchone()
    counts = counts if counts is not None else outcome_counts(conn, submission_id)
    return sub["rows_handed_in"] is not None and sum(counts[o] for o in FINAL_OUTCOMES) == sub["rows_handed_in"]


def close_if_reconciled(conn, submission_id: int, *, actor: str) -> bool:
    """Close the submission when every row has its final outcome. True when (now) closed.
    (The rows are counted once: a million-row submission is one scan here.)"""
    counts = outcome_counts(conn, submission_id)
    if not is_reconciled(conn, submission_id, counts):
        return False
    updated = conn.execute(
        "UPDATE submissions SET status = 'closed', closed_at = now() WHERE id = %s AND status <> 'closed'",
        (submission_id,),
    ).rowcount
    if updated:
        audit.record(conn, actor=actor, action="submission.closed", submission_id=submission_id, details=counts)
        callbacks.submission_closed(conn, submission_id, counts)
    return True


def rows_handed_in(conn, submission_id: int) -> int | None:
    return conn.execute("SELECT rows_handed_in FROM submissions WHERE id = %s",
                        (submission_id,)).fetchone()["rows_handed_in"]


def record_files(conn, submission_id: int, files: list[tuple[str, str, int, str]]) -> None:
    """:func:`record_file` for many ``(file name, role, size in bytes, sha256)`` in ONE
    statement, in order: a web-service call with 10,000 PDFs must not cost 10,000 round trips."""
    if not files:
        return
    names, roles, sizes, hashes = (list(column) for column in zip(*files, strict=True))
    conn.execute(
        """INSERT INTO submission_files (submission_id, file_name, role, size_bytes, sha256)
           SELECT %s, f.name, f.role, f.size, f.sha256
           FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) WITH ORDINALITY
                AS f(name, role, size, sha256, position)
           ORDER BY f.position
           ON CONFLICT (submission_id, file_name) DO NOTHING""",
        (submission_id, names, roles, sizes, hashes),
    )
