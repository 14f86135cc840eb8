"""State of the web service's send limits (bbx.domain.send_limits): request windows,
requests running now, and messages handed in today. Each function runs in the caller's
transaction; bbx.api.throttle commits each step at once, so that every api-server worker
sees the same counts."""

from __future__ import annotations

from datetime import datetime


def connection_limits(conn, connection_id: int) -> dict:
    return conn.execute(
        "SELECT rate_limit_per_minute, concurrency_limit, daily_message_cap FROM connections WHERE id = %s",
        (connection_id,),
    ).fetchone()


def count_request(conn, subject: str, window_start: datetime) -> int:
    """Count one request in the subject's window; returns the window's count with it."""
    conn.execute("DELETE FROM send_rate_windows WHERE subject = %s AND window_start < %s",
                 (subject, window_start))
    return conn.execute(
        """INSERT INTO send_rate_windows (subject, window_start, requests) VALUES (%s, %s, 1)
           ON CONFLICT (subject, window_start) DO UPDATE SET requests = send_rate_windows.requests + 1
           RETURNING requests""",
        (subject, window_start),
    ).fetchone()["requests"]


def lock_subject(conn, subject: str) -> None:
    """Serialise the check-and-take of a concurrency slot (until the transaction ends)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('bbx.send_inflight'), hashtext(%s))", (subject,))


def running(conn, subject: str, now: datetime) -> int:
    conn.execute("DELETE FROM send_inflight WHERE subject = %s AND expires_at <= %s", (subject, now))
    return conn.execute("SELECT count(*) AS n FROM send_inflight WHERE subject = %s", (subject,)).fetchone()["n"]


def start(conn, subject: str, expires_at: datetime) -> int:
    return conn.execute("INSERT INTO send_inflight (subject, expires_at) VALUES (%s, %s) RETURNING id",
                        (subject, expires_at)).fetchone()["id"]


def finish(conn, ids: list[int]) -> None:
    conn.execute("DELETE FROM send_inflight WHERE id = ANY(%s)", (ids,))


def lock_connection_day(conn, connection_id: int) -> None:
    """Serialise daily-cap checks of one connection until the hand-in commits."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('bbx.daily_cap'), %s)", (connection_id,))


def messages_since(conn, connection_id: int, since: datetime, *, sandbox: bool = False) -> int:
    """Messages handed in on the connection since ``since`` (every channel), live or sandbox."""
    return conn.execute(
        """SELECT count(*) AS n FROM messages m JOIN submissions s ON s.id = m.submission_id
           WHERE s.connection_id = %s AND s.received_at >= %s AND s.sandbox = %s""",
        (connection_id, since, sandbox),
    ).fetchone()["n"]
