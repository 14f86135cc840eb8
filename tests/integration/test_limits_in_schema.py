"""The contract limits live in ``bbx.domain.limits``; the schema repeats some of them as
constraints (so no code path can break them). This keeps the two the same fact."""

from bbx.domain import limits


def _column_length(db, table: str, column: str) -> int:
    return db.execute(
        """SELECT character_maximum_length AS n FROM information_schema.columns
           WHERE table_schema = 'bbx' AND table_name = %s AND column_name = %s""", (table, column),
    ).fetchone()["n"]


def _checks(db, table: str) -> str:
    return " ".join(r["d"] for r in db.execute(
        """SELECT pg_get_constraintdef(c.oid) AS d FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           WHERE n.nspname = 'bbx' AND t.relname = %s AND c.contype = 'c'""", (table,)))


def test_schema_constraints_match_the_contract_limits(db):
    assert _column_length(db, "messages", "subject") == limits.MAX_SUBJECT_CHARS
    assert _column_length(db, "messages", "reference") == limits.MAX_REFERENCE_CHARS
    assert _column_length(db, "message_types", "subject") == limits.MAX_SUBJECT_CHARS
    assert _column_length(db, "message_types", "code") == limits.MAX_MESSAGE_TYPE_CODE_CHARS
    assert f"<= {limits.MAX_TEXT_CHARS}" in _checks(db, "message_types")
    batches = _checks(db, "batches")
    assert f"<= {limits.MAX_MESSAGES_PER_BATCH}" in batches and f"<= {limits.MAX_BATCH_BYTES}" in batches
    assert f"<= {limits.MAX_ATTACHMENT_DESCRIPTION_CHARS}" in _checks(db, "standard_attachments")
    assert f"<= {limits.MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE}" in _checks(db, "message_attachments")
