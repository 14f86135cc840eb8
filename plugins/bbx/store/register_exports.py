"""The BSN register in PostgreSQL: the record of register exports to a tenant's outbox
(``register_exports``); the rows themselves come from
:func:`bbx.store.register.active_register_csv`.
"""

from __future__ import annotations

from datetime import date

from bbx.store import audit
from bbx.store.register_refresh import ACTOR


def export_for(conn, connection_id: int, day: date) -> dict | None:
    return conn.execute(
        "SELECT * FROM register_exports WHERE connection_id = %s AND register_date = %s",
        (connection_id, day),
    ).fetchone()


def record_export(conn, connection_id: int, day: date, *, path: str, checksum_path: str, rows: int,
                  size_bytes: int, sha256: str) -> None:
    conn.execute(
        """INSERT INTO register_exports (connection_id, register_date, path, checksum_path, rows, size_bytes, sha256)
           VALUES (%s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (connection_id, register_date) DO UPDATE
              SET path = EXCLUDED.path, checksum_path = EXCLUDED.checksum_path, rows = EXCLUDED.rows,
                  size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256, written_at = now()""",
        (connection_id, day, path, checksum_path, rows, size_bytes, sha256),
    )
    audit.record(conn, actor=ACTOR, action="register.exported", connection_id=connection_id,
                 details={"day": day.isoformat(), "path": path, "rows": rows, "sha256": sha256})
