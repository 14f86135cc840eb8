"""The certificate watch's last finding per connection (bbx.certificate_watch), read by
the status page. Each function runs in the caller's transaction."""

from __future__ import annotations

from datetime import datetime


def record(conn, connection_code: str, checked_at: datetime, warnings: list[str], failures: list[str]) -> None:
    conn.execute(
        """INSERT INTO certificate_checks (connection_id, checked_at, warnings, failures)
           SELECT id, %s, %s, %s FROM connections WHERE code = %s
           ON CONFLICT (connection_id) DO UPDATE
             SET checked_at = EXCLUDED.checked_at, warnings = EXCLUDED.warnings, failures = EXCLUDED.failures""",
        (checked_at, warnings, failures, connection_code),
    )


def latest(conn) -> list[dict]:
    """Every active connection with its last check (``checked_at`` None: never checked)."""
    return conn.execute(
        """SELECT c.code, c.name, t.name AS tenant_name, cc.checked_at,
                  coalesce(cc.warnings, '{}') AS warnings, coalesce(cc.failures, '{}') AS failures
           FROM connections c JOIN tenants t ON t.id = c.tenant_id
           LEFT JOIN certificate_checks cc ON cc.connection_id = c.id
           WHERE c.active ORDER BY c.code"""
    ).fetchall()
