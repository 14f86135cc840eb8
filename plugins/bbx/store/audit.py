"""The append-only audit log (the database refuses updates and deletes)."""

from __future__ import annotations

from psycopg.types.json import Jsonb


def record(conn, *, actor: str, action: str, details: dict | None = None, tenant_id=None,
           connection_id=None, submission_id=None) -> None:
    conn.execute(
        "INSERT INTO audit_log (actor, action, tenant_id, connection_id, submission_id, details)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (actor, action, tenant_id, connection_id, submission_id, Jsonb(details or {})),
    )
