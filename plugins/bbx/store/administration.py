"""Tenants, connections, standard attachments and message types in the database.

``apply_config`` makes the database match a checked configuration, idempotently:
re-applying the same file changes nothing. Items missing from the file are
deactivated, never deleted (submissions and messages keep referring to them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bbx.config.model import ConnectionSpec, TenantConfig
from bbx.store import audit, callbacks, standard_texts


@dataclass
class ApplySummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0

    def count(self, action: str) -> None:
        setattr(self, action, getattr(self, action) + 1)


def _upsert(conn, table: str, key: dict, values: dict) -> tuple[int, str]:
    """Insert or update one row by its natural key; return (id, created|updated|unchanged)."""
    where = " AND ".join(f"{k} = %({k})s" for k in key)
    cols = ", ".join(values)
    row = conn.execute(f"SELECT id, {cols} FROM {table} WHERE {where}", key).fetchone()
    if row is None:
        all_values = {**key, **values}
        names = ", ".join(all_values)
        params = ", ".join(f"%({k})s" for k in all_values)
        new = conn.execute(f"INSERT INTO {table} ({names}) VALUES ({params}) RETURNING id", all_values).fetchone()
        return new["id"], "created"
    current = {k: (bytes(v) if isinstance(v, memoryview) else v) for k, v in row.items() if k != "id"}
    if current == values:
        return row["id"], "unchanged"
    sets = ", ".join(f"{k} = %({k})s" for k in values)
    extra = ", updated_at = now()" if table in ("tenants", "connections") else ""
    conn.execute(f"UPDATE {table} SET {sets}{extra} WHERE id = %(id)s", {**values, "id": row["id"]})
    return row["id"], "updated"


def apply_config(conn, config: TenantConfig, actor: str,
                 connection_done: Callable[[], None] | None = None) -> ApplySummary:
    """Make the database match ``config`` (call inside one transaction). ``connection_done``:
    called after each connection (``bbx config apply`` shows progress with it)."""
    summary = ApplySummary()
    seen_connections: list[int] = []
    for tenant in config.tenants:
        tenant_id, action = _upsert(conn, "tenants", {"code": tenant.code}, {"name": tenant.name})
        summary.count(action)
        for spec in tenant.connections:
            seen_connections.append(_apply_connection(conn, tenant_id, spec, summary, actor))
            if connection_done is not None:
                connection_done()
    result = conn.execute(
        "UPDATE connections SET active = false, updated_at = now() WHERE active AND NOT (id = ANY(%s))",
        (seen_connections,),
    )
    summary.deactivated += result.rowcount
    audit.record(
        conn, actor=actor, action="config.apply",
        details={"file": config.source, "sha256": config.sha256, **summary.__dict__},
    )
    return summary


def _apply_connection(conn, tenant_id: int, spec: ConnectionSpec, summary: ApplySummary, actor: str) -> int:
    connection_id, action = _upsert(
        conn, "connections", {"code": spec.code},
        {
            "tenant_id": tenant_id, "name": spec.name, "oin": spec.oin, "sender_code": spec.sender_code,
            "cpa_id": spec.cpa_id, "sftp_folder": spec.sftp_folder, "retention_days": spec.retention_days,
            "register_export": spec.register_export, "register_export_scope": spec.register_export_scope,
            "register_stale_after_hours": spec.register_stale_after_hours, "active": spec.active,
            "pdfa": spec.pdfa, "language": spec.language,
            "approval_threshold": spec.approval_threshold,
            "rate_limit_per_minute": spec.rate_limit_per_minute, "concurrency_limit": spec.concurrency_limit,
            "daily_message_cap": spec.daily_message_cap,
        },
    )
    summary.count(action)
    action = callbacks.configure_endpoint(conn, connection_id, spec.callback_url, spec.callback_secret_variable,
                                          ca_pem=spec.callback_ca_pem, actor=actor)
    if action == "removed":  # the file no longer sets it (a tenant's own registration is left alone)
        summary.deactivated += 1
    elif spec.callback_url:
        summary.count(action)
    attachment_ids = {}
    for att in spec.standard_attachments:
        attachment_ids[att.code], action = _upsert(
            conn, "standard_attachments", {"connection_id": connection_id, "code": att.code},
            {"description": att.description, "file_name": att.file_name, "content": att.content,
             "size_bytes": len(att.content), "sha256": att.sha256},
        )
        summary.count(action)
    seen_types = []
    for mt in spec.message_types:
        type_id, action = _upsert(
            conn, "message_types", {"connection_id": connection_id, "code": mt.code},
            {"name": mt.name, "subject": mt.subject, "active": mt.active},
        )
        seen_types.append(type_id)
        # the text is versioned: the config adds a version only when its own text changed
        if standard_texts.apply_config_text(conn, type_id, mt.standard_text, actor) and action == "unchanged":
            action = "updated"
        wanted = [(pos, attachment_ids[code]) for pos, code in enumerate(mt.standard_attachments, start=1)]
        current = [
            (r["position"], r["standard_attachment_id"])
            for r in conn.execute(
                "SELECT position, standard_attachment_id FROM message_type_attachments"
                " WHERE message_type_id = %s ORDER BY position", (type_id,),
            )
        ]
        if current != wanted:
            conn.execute("DELETE FROM message_type_attachments WHERE message_type_id = %s", (type_id,))
            for pos, att_id in wanted:
                conn.execute(
                    "INSERT INTO message_type_attachments (message_type_id, position, standard_attachment_id)"
                    " VALUES (%s, %s, %s)", (type_id, pos, att_id),
                )
            if action == "unchanged":
                action = "updated"
        summary.count(action)
    result = conn.execute(
        "UPDATE message_types SET active = false WHERE connection_id = %s AND active AND NOT (id = ANY(%s))",
        (connection_id, seen_types),
    )
    summary.deactivated += result.rowcount
    return connection_id


def tenant_language(conn, tenant_id: int) -> str:
    """The language of a tenant's web service and pages: English when every active
    connection of the tenant is configured ``language: en``, else Dutch (the default)."""
    row = conn.execute(
        """SELECT count(*) > 0 AND bool_and(language = 'en') AS english
           FROM connections WHERE tenant_id = %s AND active""", (tenant_id,),
    ).fetchone()
    return "en" if row and row["english"] else "nl"


def describe(conn) -> list[dict]:
    """What is configured: one row per connection with its message types, for people."""
    return conn.execute(
        """SELECT t.code AS tenant, t.name AS tenant_name, c.code AS connection, c.oin, c.sftp_folder,
                  c.active, c.register_export,
                  (SELECT count(*) FROM standard_attachments a WHERE a.connection_id = c.id) AS attachments,
                  coalesce((SELECT string_agg(m.code || CASE WHEN m.active THEN '' ELSE ' (inactive)' END,
                                              ', ' ORDER BY m.code)
                            FROM message_types m WHERE m.connection_id = c.id), '') AS message_types
           FROM connections c JOIN tenants t ON t.id = c.tenant_id ORDER BY t.code, c.code"""
    ).fetchall()


def connection_by_code(conn, code: str) -> dict | None:
    return conn.execute(
        "SELECT c.*, t.code AS tenant_code FROM connections c JOIN tenants t ON t.id = c.tenant_id"
        " WHERE c.code = %s", (code,),
    ).fetchone()


def all_connections(conn) -> list[dict]:
    """Every connection, active or not, with its tenant's code."""
    return conn.execute(
        "SELECT c.*, t.code AS tenant_code FROM connections c JOIN tenants t ON t.id = c.tenant_id ORDER BY c.code"
    ).fetchall()


def active_connections(conn) -> list[dict]:
    return conn.execute(
        "SELECT c.*, t.code AS tenant_code FROM connections c JOIN tenants t ON t.id = c.tenant_id"
        " WHERE c.active ORDER BY c.code"
    ).fetchall()


def standard_attachments(conn, message_type_id: int) -> list[dict]:
    """The standard attachments selected on a message type, in their order (1..3)."""
    return conn.execute(
        """SELECT sa.description, sa.content FROM message_type_attachments mta
           JOIN standard_attachments sa ON sa.id = mta.standard_attachment_id
           WHERE mta.message_type_id = %s ORDER BY mta.position""",
        (message_type_id,),
    ).fetchall()


def tenant_codes(conn) -> list[str]:
    """Every tenant's code, in order (the operators' pickers)."""
    return [r["code"] for r in conn.execute("SELECT code FROM tenants ORDER BY code")]
