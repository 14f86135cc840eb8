"""Which tenant a web-service client certificate belongs to (bbx.api.client_certs): a
registered subject, else the OIN of one of the tenant's connections. Each function runs
in the caller's transaction."""

from __future__ import annotations

from bbx.store import audit


class UnknownTenant(LookupError):
    pass


def tenant_for(conn, *, subject: str, oin: str | None) -> dict | None:
    row = conn.execute(
        "SELECT t.id, t.code FROM api_client_subjects s JOIN tenants t ON t.id = s.tenant_id WHERE s.subject = %s",
        (subject,),
    ).fetchone()
    if row is None and oin:
        row = conn.execute(
            "SELECT t.id, t.code FROM connections c JOIN tenants t ON t.id = c.tenant_id"
            " WHERE c.oin = %s AND c.active",
            (oin,),
        ).fetchone()
    return row


def add(conn, *, tenant_code: str, subject: str, actor: str) -> None:
    tenant = conn.execute("SELECT id FROM tenants WHERE code = %s", (tenant_code,)).fetchone()
    if tenant is None:
        raise UnknownTenant(f"no tenant {tenant_code!r} (bbx config show lists them)")
    conn.execute(
        """INSERT INTO api_client_subjects (subject, tenant_id, created_by) VALUES (%s, %s, %s)
           ON CONFLICT (subject) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, created_by = EXCLUDED.created_by,
                                               created_at = now()""",
        (subject, tenant["id"], actor),
    )
    audit.record(conn, actor=actor, action="client_cert.add", tenant_id=tenant["id"], details={"subject": subject})


def remove(conn, *, subject: str, actor: str) -> bool:
    row = conn.execute("DELETE FROM api_client_subjects WHERE subject = %s RETURNING tenant_id",
                       (subject,)).fetchone()
    if row is not None:
        audit.record(conn, actor=actor, action="client_cert.remove", tenant_id=row["tenant_id"],
                     details={"subject": subject})
    return row is not None


def list_subjects(conn) -> list[dict]:
    return conn.execute(
        """SELECT s.subject, t.code AS tenant, s.created_by, s.created_at
           FROM api_client_subjects s JOIN tenants t ON t.id = s.tenant_id ORDER BY t.code, s.subject"""
    ).fetchall()
