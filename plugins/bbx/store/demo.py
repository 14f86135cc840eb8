"""Read-only queries ``make demo`` prints (``bbx.demo``): what the demo's runs produced."""

from __future__ import annotations

from datetime import date, datetime


def used_bsns(conn) -> set[str]:
    """Every BSN a message was ever handed in for (the demo picks fresh citizens)."""
    return {r["bsn"] for r in conn.execute("SELECT DISTINCT bsn FROM messages WHERE bsn IS NOT NULL")}


def submissions_since(conn, since: datetime) -> list[dict]:
    return conn.execute(
        """SELECT s.id, s.status, s.rows_handed_in, s.channel, c.code AS connection, m.code AS message_type
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           LEFT JOIN message_types m ON m.id = s.message_type_id
           WHERE s.received_at >= %s AND s.kind = 'messages' ORDER BY s.id""", (since,),
    ).fetchall()


def applied_refreshes_after(conn, day: date) -> list[dict]:
    return conn.execute(
        """SELECT c.code, r.logical_date, r.kind, r.entries, r.opened, r.closed FROM register_refreshes r
           JOIN connections c ON c.id = r.connection_id
           WHERE r.logical_date > %s AND r.status = 'applied'
           ORDER BY c.code, r.logical_date""", (day,)).fetchall()


def register_done(conn, day: date) -> bool:
    """Every active connection has an applied register refresh for ``day`` (and there is one)."""
    row = conn.execute(
        """SELECT count(DISTINCT connection_id) AS n FROM register_refreshes
           WHERE logical_date = %s AND status = 'applied'""", (day,)).fetchone()
    active = conn.execute("SELECT count(*) AS n FROM connections WHERE active").fetchone()
    return row["n"] >= active["n"] > 0
