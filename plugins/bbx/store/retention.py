"""Retention of personal content in BBX's database.

Texts (``messages.text_encrypted``) and personal PDFs (``message_attachments.content_encrypted``)
are personal data: once a submission is finished — closed (every row has its final
outcome) or rejected as a whole — they are kept for the connection's ``retention_days``
and then removed. What stays: the rows with their metadata (BSN, BerichtID, subject,
reference, outcome and reason), file names, sizes and SHA-256 of the PDFs, the
submission's files and the audit log: enough to answer "what was sent to whom, when,
with what result" without the content itself. ``messages.purged_at`` says when.

Each submission is purged in its own transaction, so a run that stops half-way leaves
only whole submissions purged and the next run continues. One audit entry per run
(counts only, no BSNs).

Delivered and failed callback events leave the outbox in the same job:
:func:`purge_callback_outbox`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bbx.store import audit, callbacks

ACTOR = "bbx:retention"


def submissions_due(conn, now: datetime, *, limit: int = 1000) -> list[dict]:
    """Finished submissions past their connection's retention whose content is not yet
    (all) purged, oldest first."""
    return conn.execute(
        """SELECT s.id, s.connection_id, c.retention_days,
                  coalesce(s.closed_at, s.received_at) AS finished_at
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           WHERE s.status IN ('closed', 'rejected')
             AND coalesce(s.closed_at, s.received_at) < %(now)s - make_interval(days => c.retention_days)
             AND EXISTS (SELECT 1 FROM messages m WHERE m.submission_id = s.id AND m.purged_at IS NULL)
           ORDER BY coalesce(s.closed_at, s.received_at), s.id
           LIMIT %(limit)s""",
        {"now": now, "limit": limit},
    ).fetchall()


def purge_submission(conn, submission_id: int, now: datetime) -> dict[str, int]:
    """Remove the personal content of one submission (call inside a transaction).
    Returns ``{messages, texts, attachments}``: rows marked purged, texts and PDFs removed.
    Rechecks the status under a lock: a submission reopened for redelivery is left alone."""
    sub = conn.execute("SELECT status FROM submissions WHERE id = %s FOR UPDATE", (submission_id,)).fetchone()
    if sub is None or sub["status"] not in ("closed", "rejected"):
        return {"messages": 0, "texts": 0, "attachments": 0}
    attachments = conn.execute(
        """UPDATE message_attachments a SET content_encrypted = NULL
           FROM messages m
           WHERE a.message_id = m.id AND m.submission_id = %s AND a.content_encrypted IS NOT NULL""",
        (submission_id,),
    ).rowcount
    texts = conn.execute(
        """SELECT count(*) AS n FROM messages
           WHERE submission_id = %s AND purged_at IS NULL AND text_encrypted IS NOT NULL""",
        (submission_id,),
    ).fetchone()["n"]
    marked = conn.execute(
        """UPDATE messages SET text_encrypted = NULL, purged_at = %s
           WHERE submission_id = %s AND purged_at IS NULL""",
        (now, submission_id),
    ).rowcount
    return {"messages": marked, "texts": texts, "attachments": attachments}


def purge_expired_content(conn_factory, *, now: datetime | None = None, batch: int = 1000) -> dict:
    """Purge every finished submission past retention. ``conn_factory()`` gives a new
    connection (``bbx.store.db.connect``). Returns the run's counts."""
    now = now or datetime.now(UTC)
    summary = {"submissions": 0, "messages": 0, "texts": 0, "attachments": 0}
    with conn_factory() as conn:
        while True:
            due = submissions_due(conn, now, limit=batch)
            conn.commit()
            if not due:
                break
            for sub in due:
                with conn.transaction():
                    counts = purge_submission(conn, sub["id"], now)
                if counts["messages"]:
                    summary["submissions"] += 1
                for key in ("messages", "texts", "attachments"):
                    summary[key] += counts[key]
            if len(due) < batch:
                break
        with conn.transaction():
            audit.record(conn, actor=ACTOR, action="content.purged",
                         details={**summary, "as_of": now.isoformat(timespec="seconds")})
    return summary


def purge_callback_outbox(conn_factory, *, now: datetime | None = None) -> dict[str, int]:
    """Delivered and failed callback events past their keep period leave the outbox; one
    audit entry per run (counts only)."""
    now = now or datetime.now(UTC)
    with conn_factory() as conn:
        removed = callbacks.purge_outbox(conn, now)
        with conn.transaction():
            audit.record(conn, actor=ACTOR, action="callbacks.purged",
                         details={**removed, "as_of": now.isoformat(timespec="seconds")})
    return removed
