"""Looking things up: one submission, its rows' outcomes, everything about one BSN.

Plain SQL over ``submissions`` and ``messages``. The register side of a BSN lookup
(subscription periods) comes from :mod:`bbx.store.register`. Callers decide who may
see what (``bbx.api`` checks the tenant before it calls these).
"""

from __future__ import annotations

from collections.abc import Sequence

OUTCOMES = ("planned", "queued", "sent", "not_subscribed", "delivered", "failed", "rejected")
# The number of the standard-text version a message was planned with (issue 18; None: a rejected row)
_VERSION = "(SELECT v.version FROM standard_text_versions v WHERE v.id = m.standard_text_version_id)"


def connections(conn, *, tenant_id: int | None = None) -> list[dict]:
    """Connections with their tenant: all of them, or one tenant's (``tenant_id``)."""
    where, params = ("", ()) if tenant_id is None else ("WHERE c.tenant_id = %s", (tenant_id,))
    return conn.execute(
        f"""SELECT c.id, c.code, c.name, c.active, c.tenant_id, t.code AS tenant, t.name AS tenant_name,
                   c.sender_code, c.oin
            FROM connections c JOIN tenants t ON t.id = c.tenant_id {where}
            ORDER BY t.code, c.code""",
        params,
    ).fetchall()


def connection(conn, code: str) -> dict | None:
    """One connection by its code, with its tenant."""
    return conn.execute(
        """SELECT c.id, c.code, c.name, c.active, c.tenant_id, t.code AS tenant, t.name AS tenant_name,
                  c.sender_code, c.oin, c.pdfa, c.language
           FROM connections c JOIN tenants t ON t.id = c.tenant_id WHERE c.code = %s""",
        (code,),
    ).fetchone()


def submission(conn, submission_id: int) -> dict | None:
    """One submission with its connection, tenant and message type codes."""
    return conn.execute(
        """SELECT s.*, c.code AS connection, c.tenant_id, t.code AS tenant,
                  mt.code AS message_type, mt.name AS message_type_name
           FROM submissions s
           JOIN connections c ON c.id = s.connection_id
           JOIN tenants t ON t.id = c.tenant_id
           LEFT JOIN message_types mt ON mt.id = s.message_type_id
           WHERE s.id = %s""",
        (submission_id,),
    ).fetchone()


def submission_files(conn, submission_id: int) -> list[dict]:
    """The files of a submission with their SHA-256 (the audit trail of what came in)."""
    return conn.execute(
        """SELECT file_name, role, size_bytes, sha256, received_at
           FROM submission_files WHERE submission_id = %s ORDER BY id""",
        (submission_id,),
    ).fetchall()


def submission_file_sha256(conn, submission_id: int, file_name: str) -> str | None:
    row = conn.execute(
        "SELECT sha256 FROM submission_files WHERE submission_id = %s AND file_name = %s",
        (submission_id, file_name),
    ).fetchone()
    return row["sha256"] if row else None


def submission_rows(conn, submission_id: int, *, outcomes: Sequence[str] | None = None,
                    after_row: int = 0, limit: int = 1000) -> list[dict]:
    """Per-row outcomes of a submission, in row order, ``limit`` rows after ``after_row``."""
    where = "m.submission_id = %(sid)s AND m.row_number > %(after)s"
    if outcomes:
        where += " AND m.outcome = ANY(%(outcomes)s)"
    return conn.execute(
        f"""SELECT m.row_number, m.bsn, m.message_id::text AS message_id, m.outcome, m.outcome_code,
                   m.outcome_reason, m.reference, m.created_at, m.sent_at, m.final_at, m.purged_at,
                   (SELECT count(*) FROM message_attachments a WHERE a.message_id = m.id)::int AS attachments,
                   {_VERSION} AS standard_text_version
            FROM messages m WHERE {where} ORDER BY m.row_number LIMIT %(limit)s""",
        {"sid": submission_id, "after": after_row, "outcomes": list(outcomes or ()), "limit": limit},
    ).fetchall()


def iter_submission_rows(conn, submission_id: int, *, outcomes: Sequence[str] | None = None,
                         after_row: int = 0, chunk: int = 10_000):
    """Every row of a submission after ``after_row`` (row order), read in chunks."""
    while True:
        rows = submission_rows(conn, submission_id, outcomes=outcomes, after_row=after_row, limit=chunk)
        yield from rows
        if len(rows) < chunk:
            return
        after_row = rows[-1]["row_number"]


def messages_for_bsn(conn, bsn: str, connection_ids: Sequence[int]) -> list[dict]:
    """Every message to ``bsn`` on these connections, sent or not, newest first.

    Rows rejected at intake are included when their BSN itself was valid (a row with
    an invalid BSN cannot be found by BSN). ``purged_at``: when the personal text and
    PDFs were removed after the retention period (``bbx.store.retention``).
    """
    return conn.execute(
        f"""SELECT m.connection_id, c.code AS connection, m.submission_id, s.channel, s.sandbox, s.received_at,
                  mt.code AS message_type, mt.name AS message_type_name,
                  coalesce(m.subject, mt.subject) AS subject, m.reference,
                  m.message_id::text AS message_id, m.outcome, m.outcome_code, m.outcome_reason,
                  m.created_at, m.sent_at, m.final_at, m.purged_at,
                  (SELECT count(*) FROM message_attachments a WHERE a.message_id = m.id)::int AS attachments,
                  {_VERSION} AS standard_text_version
           FROM messages m
           JOIN submissions s ON s.id = m.submission_id
           JOIN connections c ON c.id = m.connection_id
           LEFT JOIN message_types mt ON mt.id = m.message_type_id
           WHERE m.bsn = %s AND m.connection_id = ANY(%s)
           ORDER BY m.created_at DESC, m.id DESC""",
        (bsn, list(connection_ids)),
    ).fetchall()
