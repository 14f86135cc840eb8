"""The BSN register in PostgreSQL, read side: lookups, staleness, doubts, the active register.

Per connection the register is a history of subscription periods
(``register_periods``): a sign-up opens a period, a sign-off closes it, nothing is
overwritten or deleted, and every change names the refresh that made it. Dates follow
MijnOverheid's answer: a period ``[begin_date, end_date)`` ends on the first day
*without* a subscription; the SQL function ``register_active_on(connection_id, d)`` is
the one definition of "subscribed on day d" (delivery's send-time decision uses it too).

The refresh engine that writes the history is :mod:`bbx.store.register_refresh`; the
record of exports to the tenant is :mod:`bbx.store.register_exports`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

from bbx.domain import register as rules
from bbx.domain.bsn import mask
from bbx.store import audit
from bbx.store.register_refresh import ACTOR, last_applied

# =========================================================================== lookups


def periods(conn, connection_id: int, bsn: str) -> list[dict]:
    """Every subscription period of ``bsn`` at this connection, oldest first:
    ``[{begin_date, end_date (None: still subscribed; exclusive), opened_by_refresh,
    closed_by_refresh}]``."""
    return conn.execute(
        """SELECT begin_date, end_date, opened_by_refresh, closed_by_refresh
           FROM register_periods WHERE connection_id = %s AND bsn = %s
           ORDER BY begin_date, id""",
        (connection_id, bsn),
    ).fetchall()


def is_subscribed(conn, connection_id: int, bsn: str, on: date) -> bool:
    """Is ``bsn`` subscribed to this connection on day ``on`` (per the register)?"""
    return conn.execute(
        "SELECT register_is_active(%s, %s, %s) AS active", (connection_id, bsn, on)
    ).fetchone()["active"]


def subscribed_on(conn, connection_id: int, on: date, *, with_bsns: bool = False) -> dict:
    """How many BSNs are subscribed on day ``on``: ``{"count": n}``, plus ``"bsns"``
    (sorted) when asked."""
    if with_bsns:
        bsns = [r["bsn"] for r in conn.execute(
            "SELECT bsn FROM register_active_on(%s, %s) ORDER BY bsn", (connection_id, on))]
        return {"count": len(bsns), "bsns": bsns}
    row = conn.execute("SELECT count(*) AS n FROM register_active_on(%s, %s)", (connection_id, on)).fetchone()
    return {"count": row["n"]}


def changes(conn, connection_id: int, start: date, end: date, *, with_bsns: bool = False) -> dict:
    """Sign-ups and sign-offs with their day in ``[start, end]`` (both inclusive).

    A sign-up is a period's begin date; a sign-off is a period's end date (the first
    day without a subscription). ``{"signups": n, "signoffs": n}``, plus
    ``"signup_bsns"`` / ``"signoff_bsns"`` (sorted) when asked.
    """
    if end < start:
        raise ValueError(f"the report period ends ({end}) before it starts ({start})")
    row = conn.execute(
        """SELECT count(*) FILTER (WHERE begin_date BETWEEN %(s)s AND %(e)s) AS signups,
                  count(*) FILTER (WHERE end_date BETWEEN %(s)s AND %(e)s) AS signoffs
           FROM register_periods
           WHERE connection_id = %(c)s
             AND (begin_date BETWEEN %(s)s AND %(e)s OR end_date BETWEEN %(s)s AND %(e)s)""",
        {"c": connection_id, "s": start, "e": end},
    ).fetchone()
    result = {"signups": row["signups"], "signoffs": row["signoffs"]}
    if with_bsns:
        for key, column in (("signup_bsns", "begin_date"), ("signoff_bsns", "end_date")):
            result[key] = [r["bsn"] for r in conn.execute(
                f"""SELECT DISTINCT bsn FROM register_periods
                    WHERE connection_id = %s AND {column} BETWEEN %s AND %s ORDER BY bsn""",
                (connection_id, start, end),
            )]
    return result


# =========================================================================== staleness


def _freshness(conn, connection_id: int, now: datetime | None) -> tuple[dict, dict | None, str | None]:
    connection = conn.execute(
        "SELECT id, code, register_stale_after_hours FROM connections WHERE id = %s", (connection_id,)
    ).fetchone()
    if connection is None:
        raise ValueError(f"connection {connection_id} does not exist")
    last = last_applied(conn, connection_id)
    reason = rules.stale_reason(
        connection_code=connection["code"], last_applied_at=last["applied_at"] if last else None,
        now=now or datetime.now(UTC), stale_after_hours=connection["register_stale_after_hours"],
    )
    return connection, last, reason


def _episode(conn, connection_id: int, last: dict | None) -> dict | None:
    return conn.execute(
        """SELECT * FROM register_stale_flags
           WHERE connection_id = %s AND coalesce(last_refresh_id, 0) = %s""",
        (connection_id, last["id"] if last else 0),
    ).fetchone()


def bulk_send_blocked(conn, connection_id: int, now: datetime | None = None) -> str | None:
    """Why bulk sends for this connection must wait (the register is stale or was never
    built, and no operator acknowledged that), or None when they may go."""
    _, last, reason = _freshness(conn, connection_id, now)
    if reason is None:
        return None
    flag = _episode(conn, connection_id, last)
    if flag is not None and flag["acknowledged_at"] is not None:
        return None
    return reason


def flag_stale(conn, connection_id: int, now: datetime | None = None) -> dict | None:
    """Flag a stale register for operators (once per episode, with an audit entry).
    Returns the flag ``{reason, flagged_at, acknowledged_at, ...}`` or None when fresh."""
    _, last, reason = _freshness(conn, connection_id, now)
    if reason is None:
        return None
    flag = _episode(conn, connection_id, last)
    if flag is None:
        flag = conn.execute(
            """INSERT INTO register_stale_flags (connection_id, last_refresh_id, reason)
               VALUES (%s, %s, %s) RETURNING *""",
            (connection_id, last["id"] if last else None, reason),
        ).fetchone()
        audit.record(conn, actor=ACTOR, action="register.stale", connection_id=connection_id,
                     details={"reason": reason, "last_refresh_id": last["id"] if last else None})
    return {**flag, "reason": reason}


def acknowledge_stale(conn, connection_id: int, *, by: str, reason: str, now: datetime | None = None) -> dict:
    """An operator accepts the stale register: bulk sends may go until the next
    successful refresh (after which a new stale episode needs a new acknowledgement)."""
    if not reason or not reason.strip():
        raise ValueError("say why sending on a stale register is acceptable (--reason)")
    flag = flag_stale(conn, connection_id, now)
    if flag is None:
        raise ValueError("the register is fresh: there is nothing to acknowledge")
    row = conn.execute(
        """UPDATE register_stale_flags SET acknowledged_at = now(), acknowledged_by = %s, acknowledgement = %s
           WHERE id = %s RETURNING *""",
        (by, reason.strip(), flag["id"]),
    ).fetchone()
    audit.record(conn, actor=by, action="register.stale_acknowledged", connection_id=connection_id,
                 details={"flag_id": flag["id"], "reason": reason.strip()})
    return row


def status(conn, connection_id: int, now: datetime | None = None, *, on: date | None = None) -> dict:
    """For operators: last refresh, freshness, acknowledgement, doubts, last export."""
    now = now or datetime.now(UTC)
    connection, last, reason = _freshness(conn, connection_id, now)
    flag = _episode(conn, connection_id, last) if reason else None
    latest = conn.execute(
        """SELECT logical_date, kind, status, attempt, requested_at, applied_at, snapshot_at, entries,
                  opened, closed, conflicts, error, note
           FROM register_refreshes WHERE connection_id = %s ORDER BY logical_date DESC LIMIT 1""",
        (connection_id,),
    ).fetchone()
    day = on or now.astimezone(rules.TZ).date()
    return {
        "connection": connection["code"],
        "subscribed_today": subscribed_on(conn, connection_id, day)["count"],
        "last_applied_at": last["applied_at"] if last else None,
        "latest_refresh": latest,
        "stale": reason,
        "acknowledged_by": flag["acknowledged_by"] if flag else None,
        "bulk_send_blocked": bulk_send_blocked(conn, connection_id, now),
        "open_doubts": conn.execute(
            "SELECT count(*) AS n FROM register_doubts WHERE connection_id = %s AND resolved_at IS NULL",
            (connection_id,),
        ).fetchone()["n"],
        "last_export": conn.execute(
            "SELECT register_date, path, rows, sha256 FROM register_exports WHERE connection_id = %s"
            " ORDER BY register_date DESC LIMIT 1", (connection_id,),
        ).fetchone(),
    }


# =========================================================================== doubts


def record_doubt(conn, connection_id: int, bsn: str, *, message_id: str, source: str) -> None:
    """MijnOverheid answered NietActiefOfGeabonneerd for a BSN the register holds
    subscribed: flag it for operators (once per message)."""
    row = conn.execute(
        """INSERT INTO register_doubts (connection_id, bsn, message_id, source)
           VALUES (%s, %s, %s, %s) ON CONFLICT (connection_id, message_id) DO NOTHING RETURNING id""",
        (connection_id, bsn, message_id, source),
    ).fetchone()
    if row:
        audit.record(conn, actor="bbx", action="register.doubt", connection_id=connection_id,
                     details={"doubt_id": row["id"], "bsn": mask(bsn), "message_id": str(message_id),
                              "source": source})


def open_doubts(conn, connection_id: int) -> list[dict]:
    return conn.execute(
        """SELECT id, bsn, message_id, source, recorded_at FROM register_doubts
           WHERE connection_id = %s AND resolved_at IS NULL ORDER BY recorded_at, id""",
        (connection_id,),
    ).fetchall()


def resolve_doubt(conn, doubt_id: int, *, by: str, resolution: str) -> None:
    row = conn.execute(
        """UPDATE register_doubts SET resolved_at = now(), resolution = %s
           WHERE id = %s AND resolved_at IS NULL RETURNING connection_id""",
        (f"{by}: {resolution}", doubt_id),
    ).fetchone()
    if row is None:
        raise ValueError(f"doubt {doubt_id} does not exist or is already resolved")
    audit.record(conn, actor=by, action="register.doubt_resolved", connection_id=row["connection_id"],
                 details={"doubt_id": doubt_id, "resolution": resolution})


# =========================================================================== the active register (export, download)


def active_register_csv(conn, connection_id: int, day: date, *, options: str = "FORMAT csv, HEADER",
                        only_population: bool = False) -> Iterator[bytes]:
    """The register as on ``day`` as CSV (header ``bsn,begin_date,end_date``, sorted by
    BSN), streamed in chunks straight from PostgreSQL (COPY TO): constant memory.
    ``options``: COPY's (the outbox export passes ``bbx.domain.csvfile.COPY_OPTIONS``);
    ``only_population``: only the BSNs in the connection's population (bbx.store.population)."""
    from bbx.store.population import MEMBER_OF

    where = f"WHERE {MEMBER_OF.format(c=int(connection_id))}" if only_population else ""
    with conn.cursor().copy(
        f"""COPY (SELECT bsn AS {rules.EXPORT_HEADER[0]}, begin_date AS {rules.EXPORT_HEADER[1]},
                         end_date AS {rules.EXPORT_HEADER[2]}
                  FROM register_periods_active_on({int(connection_id)}, '{day.isoformat()}'::date) a
                  {where}
                  ORDER BY bsn)
            TO STDOUT ({options})"""
    ) as copy:
        for chunk in copy:
            yield bytes(chunk)
