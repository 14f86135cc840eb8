"""The BSN register in PostgreSQL: refreshes, history, lookups, reports, staleness.

Per connection the register is a history of subscription periods
(``register_periods``): a sign-up opens a period, a sign-off closes it, nothing is
overwritten or deleted, and every change names the refresh that made it. Dates follow
MijnOverheid's answer: a period ``[begin_date, end_date)`` ends on the first day
*without* a subscription; the SQL function ``register_active_on(connection_id, d)`` is
the one definition of "subscribed on day d" (delivery's send-time decision uses it too).

Applying an answer happens in ONE transaction per connection: the answer is streamed
into a temporary staging table with COPY, then a few set-based statements open and
close periods. A crash at any point leaves the register as it was before.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime

import psycopg

from bbx.domain import register as rules
from bbx.domain.bsn import mask
from bbx.domain.subscription import (
    AnswerHeader,
    SubscriptionAnswerError,
    SubscriptionEntry,
    SubscriptionStatus,
    iter_subscription_answer,
)
from bbx.store import audit

ACTOR = "bbx_register_refresh"
_APPLY_LOCK = 0x0BB0_0020  # advisory lock class: one apply per connection at a time
_ANALYZE_AFTER = 50_000  # changed periods after which the table's statistics are renewed


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


# =========================================================================== refreshes


def refresh_for(conn, connection_id: int, day: date) -> dict | None:
    """The refresh of a connection for one register day (None: not started)."""
    return conn.execute(
        "SELECT * FROM register_refreshes WHERE connection_id = %s AND logical_date = %s",
        (connection_id, day),
    ).fetchone()


def last_applied(conn, connection_id: int) -> dict | None:
    """The most recent successful refresh (by when it was applied), or None."""
    return conn.execute(
        """SELECT * FROM register_refreshes WHERE connection_id = %s AND status = 'applied'
           ORDER BY applied_at DESC, id DESC LIMIT 1""",
        (connection_id,),
    ).fetchone()


def latest_snapshot(conn, connection_id: int) -> datetime | None:
    """The PeilDatum the register is correct as of (the newest applied answer)."""
    return conn.execute(
        "SELECT max(snapshot_at) AS s FROM register_refreshes WHERE connection_id = %s AND status = 'applied'",
        (connection_id,),
    ).fetchone()["s"]


def start_refresh(conn, connection_id: int, day: date, plan: rules.RequestPlan, *, attempt: int,
                  reopen: bool = False) -> dict:
    """Record that the refresh of ``day`` asks ``plan`` (a new row, or a new attempt of a
    failed or unanswered one). An answered or applied refresh is not asked again, unless
    ``reopen`` (an operator's rebuild with the full list on a day already refreshed)."""
    row = conn.execute(
        """INSERT INTO register_refreshes (connection_id, logical_date, kind, request_id, since, attempt)
           VALUES (%(c)s, %(d)s, %(k)s, %(r)s, %(s)s, %(a)s)
           ON CONFLICT (connection_id, logical_date) DO UPDATE
              SET kind = EXCLUDED.kind, request_id = EXCLUDED.request_id, since = EXCLUDED.since,
                  attempt = EXCLUDED.attempt, status = 'requested', requested_at = now(),
                  request_message_id = NULL, answer_message_id = NULL, answered_at = NULL,
                  snapshot_at = NULL, entries = NULL, opened = NULL, closed = NULL,
                  conflicts = NULL, error = NULL, note = NULL
              WHERE register_refreshes.status IN ('requested', 'failed') OR %(reopen)s
           RETURNING *""",
        {"c": connection_id, "d": day, "k": plan.kind, "r": plan.request_id, "s": plan.since, "a": attempt,
         "reopen": reopen},
    ).fetchone()
    if row is None:
        raise rules.RegisterError(f"the refresh of {day} is already answered or applied; it is not asked again")
    audit.record(conn, actor=ACTOR, action="register.requested", connection_id=connection_id,
                 details={"day": day.isoformat(), "kind": plan.kind, "request_id": plan.request_id,
                          "since": plan.since.isoformat() if plan.since else None, "attempt": attempt,
                          "rebuild": reopen})
    return row


def mark_sent(conn, refresh_id: int, request_message_id: str) -> None:
    conn.execute(
        "UPDATE register_refreshes SET request_message_id = %s WHERE id = %s",
        (request_message_id, refresh_id),
    )


def fail_refresh(conn, refresh_id: int, error: str) -> None:
    """Mark a refresh failed (not applied); a rerun asks again with a new VerzoekId."""
    row = conn.execute(
        """UPDATE register_refreshes SET status = 'failed', error = %s
           WHERE id = %s AND status <> 'applied' RETURNING connection_id, logical_date""",
        (error, refresh_id),
    ).fetchone()
    if row:
        audit.record(conn, actor=ACTOR, action="register.failed", connection_id=row["connection_id"],
                     details={"refresh_id": refresh_id, "day": row["logical_date"].isoformat(), "error": error})


def store_answer(conn, *, connection_id: int, ebms_message_id: str, content: bytes,
                 request_id: str | None, ref_to_message_id: str | None = None) -> str:
    """Keep a received answer for the refresh that asked for it, before the ebMS message
    is acknowledged. The refresh is found by the answer's VerzoekId, or (when the answer
    cannot be read) by the ebMS message it refers to. Returns ``stored``, ``duplicate``
    (already answered) or ``unknown`` (no request with this VerzoekId: an earlier
    attempt, or not BBX's)."""
    if request_id is not None:
        refresh = conn.execute(
            "SELECT * FROM register_refreshes WHERE connection_id = %s AND request_id::text = %s FOR UPDATE",
            (connection_id, request_id),
        ).fetchone()
    elif ref_to_message_id:
        refresh = conn.execute(
            "SELECT * FROM register_refreshes WHERE connection_id = %s AND request_message_id = %s FOR UPDATE",
            (connection_id, ref_to_message_id),
        ).fetchone()
    else:
        refresh = None
    details = {"request_id": request_id, "ebms_message_id": ebms_message_id, "ref_to_message_id": ref_to_message_id}
    if refresh is None:
        audit.record(conn, actor=ACTOR, action="register.answer_ignored", connection_id=connection_id,
                     details={**details, "why": "no pending request with this VerzoekId"})
        return "unknown"
    if refresh["status"] != "requested":
        audit.record(conn, actor=ACTOR, action="register.answer_ignored", connection_id=connection_id,
                     details={**details, "why": f"duplicate: the refresh is already {refresh['status']}"})
        return "duplicate"
    conn.execute(
        """INSERT INTO register_answers (request_id, refresh_id, ebms_message_id, size_bytes, sha256, content)
           VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (request_id) DO NOTHING""",
        (refresh["request_id"], refresh["id"], ebms_message_id, len(content),
         hashlib.sha256(content).hexdigest(), content),
    )
    conn.execute(
        """UPDATE register_refreshes SET status = 'answered', answer_message_id = %s, answered_at = now()
           WHERE id = %s""",
        (ebms_message_id, refresh["id"]),
    )
    audit.record(conn, actor=ACTOR, action="register.answered", connection_id=connection_id,
                 details={**details, "refresh_id": refresh["id"], "size_bytes": len(content)})
    return "stored"


@dataclass(frozen=True)
class ApplyResult:
    refresh_id: int
    outcome: str  # applied | superseded | already_applied
    entries: int = 0
    opened: int = 0
    closed: int = 0
    conflicts: int = 0
    snapshot_at: datetime | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["snapshot_at"] = self.snapshot_at.isoformat() if self.snapshot_at else None
        return out


def apply_answer(conn, refresh_id: int) -> ApplyResult:
    """Apply the stored answer of a refresh, in one transaction (commits it when ``conn``
    is idle). An unreadable or inconsistent answer marks the refresh failed and raises
    (SubscriptionAnswerError or RegisterError); the register is then untouched."""
    with conn.transaction():
        answer = conn.execute(
            """SELECT a.content, a.purged_at, r.status FROM register_refreshes r
               LEFT JOIN register_answers a ON a.request_id = r.request_id
               WHERE r.id = %s""",
            (refresh_id,),
        ).fetchone()
    if answer is None:
        raise rules.RegisterError(f"refresh {refresh_id} does not exist")
    if answer["status"] == "applied":
        return ApplyResult(refresh_id, "already_applied")
    if answer["content"] is None:
        raise rules.RegisterError(
            f"refresh {refresh_id} has no stored answer (status {answer['status']}); wait for it first"
        )
    content = bytes(answer["content"])
    try:
        header, entries = iter_subscription_answer(io.BytesIO(content))
        return apply_entries(conn, refresh_id, header, entries)
    except (SubscriptionAnswerError, rules.RegisterError) as exc:
        with conn.transaction():
            fail_refresh(conn, refresh_id, str(exc))
        raise
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        # the answer holds something the register refuses: retrying cannot help
        error = rules.RegisterError(f"the register refuses the answer: {exc.diag.message_primary or exc}")
        with conn.transaction():
            fail_refresh(conn, refresh_id, str(error))
        raise error from None


def apply_entries(conn, refresh_id: int, header: AnswerHeader, entries: Iterable[SubscriptionEntry]) -> ApplyResult:
    """Apply an answer (its header and streamed entries) to the register, in one
    transaction per connection. Idempotent: an applied refresh is not applied again, and
    entries the register already holds change nothing."""
    with conn.transaction():
        refresh = conn.execute("SELECT * FROM register_refreshes WHERE id = %s", (refresh_id,)).fetchone()
        if refresh is None:
            raise rules.RegisterError(f"refresh {refresh_id} does not exist")
        connection_id = refresh["connection_id"]
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s::int)", (_APPLY_LOCK, connection_id))
        refresh = conn.execute("SELECT * FROM register_refreshes WHERE id = %s FOR UPDATE", (refresh_id,)).fetchone()
        if refresh["status"] == "applied":
            return ApplyResult(refresh_id, "already_applied")
        if header.request_id != str(refresh["request_id"]):
            raise rules.RegisterError(
                f"the answer is for VerzoekId {header.request_id}, not for this refresh's "
                f"{refresh['request_id']}"
            )
        if header.snapshot_at is None:
            raise rules.RegisterError("the answer has no readable PeilDatum; it cannot be placed in time")
        snapshot_at = header.snapshot_at
        verdict = rules.judge_answer(refresh["kind"], refresh["since"], snapshot_at,
                                     latest_snapshot(conn, connection_id))
        if verdict == rules.SUPERSEDED:
            # Consume the stream anyway: a broken answer is still refused.
            total = sum(1 for _ in entries)
            note = "superseded: the register already holds a newer snapshot; nothing to apply"
            _finish(conn, refresh, snapshot_at, total, 0, 0, 0, note, resolve_doubts=False)
            return ApplyResult(refresh_id, "superseded", entries=total, snapshot_at=snapshot_at)
        total, unique_bsns = _load_staging(conn, entries)
        opened, closed, conflicts = _merge(conn, refresh, rules.snapshot_day(snapshot_at), unique_bsns)
        if opened + closed >= _ANALYZE_AFTER:
            # fresh statistics, so the next (small) refresh gets index lookups, not a
            # hash of the whole register (autovacuum may not have come by yet)
            conn.execute("ANALYZE register_periods")
        _finish(conn, refresh, snapshot_at, total, opened, closed, conflicts, None)
        return ApplyResult(refresh_id, "applied", total, opened, closed, conflicts, snapshot_at)


def _load_staging(conn, entries: Iterable[SubscriptionEntry]) -> tuple[int, bool]:
    """Stream the entries into the temporary table ``register_staging`` (COPY).
    Returns (entries, strictly ascending by BSN: then no BSN is listed twice)."""
    conn.execute("DROP TABLE IF EXISTS register_staging")
    conn.execute(
        """CREATE TEMP TABLE register_staging (bsn char(9) NOT NULL, begin_date date NOT NULL,
                                              end_date date) ON COMMIT DROP"""
    )
    ended = SubscriptionStatus.ENDED
    check = rules.check_entry
    total, previous, ascending = 0, "", True
    with conn.cursor().copy("COPY register_staging (bsn, begin_date, end_date) FROM STDIN") as copy:
        write = copy.write_row
        for total, (bsn, status, begin, end) in enumerate(entries, 1):
            if end is not None and end < begin or status is ended and end is None:
                check(total, bsn, status is ended, begin, end)
            if ascending:
                ascending = bsn > previous
                previous = bsn
            write((bsn, begin, end))
    conn.execute("ANALYZE register_staging")
    return total, ascending


def _tidy_staging(conn) -> int:
    """Make the staging table one entry per (BSN, begin date), at most one open entry
    per BSN, no overlapping entries of one BSN. Returns how many entries were set aside
    as contradicting a later entry of the same BSN. Only BSNs listed more than once are
    looked at (normally none)."""
    multi = conn.execute(
        "SELECT count(*) AS n FROM (SELECT bsn FROM register_staging GROUP BY bsn HAVING count(*) > 1) m"
    ).fetchone()["n"]
    if not multi:
        return 0
    # Same subscription listed twice: keep one, the one with an end date if any.
    conn.execute(
        """DELETE FROM register_staging s USING register_staging t
           WHERE s.bsn = t.bsn AND s.begin_date = t.begin_date AND s.ctid <> t.ctid
             AND ((s.end_date IS NULL AND t.end_date IS NOT NULL)
                  OR (s.end_date IS NOT DISTINCT FROM t.end_date AND s.ctid > t.ctid))"""
    )
    clash = conn.execute(
        """SELECT bsn FROM register_staging GROUP BY bsn, begin_date HAVING count(*) > 1 LIMIT 1"""
    ).fetchone()
    if clash:
        raise rules.RegisterError(
            f"the answer gives BSN {mask(clash['bsn'])} two different end dates for one subscription"
        )
    # An entry that overlaps a later entry of the same BSN contradicts it: set aside.
    removed = conn.execute(
        """DELETE FROM register_staging s USING register_staging t
           WHERE s.bsn = t.bsn AND t.begin_date > s.begin_date
             AND coalesce(s.end_date, 'infinity'::date) > t.begin_date"""
    ).rowcount
    return removed


def _merge(conn, refresh: dict, snapshot_day: date, unique_bsns: bool) -> tuple[int, int, int]:
    """Set-based merge of ``register_staging`` into the connection's periods.
    Returns (opened, closed, conflicts)."""
    p = {"c": refresh["connection_id"], "r": refresh["id"], "day": snapshot_day}
    conflicts = 0 if unique_bsns else _tidy_staging(conn)
    has_periods = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM register_periods WHERE connection_id = %(c)s) AS e", p
    ).fetchone()["e"]
    if not has_periods:  # the first build: every entry is new
        inserted = conn.execute(
            """INSERT INTO register_periods (connection_id, bsn, begin_date, end_date,
                                             opened_by_refresh, closed_by_refresh)
               SELECT %(c)s, bsn, begin_date, end_date, %(r)s,
                      CASE WHEN end_date IS NULL THEN NULL ELSE %(r)s::bigint END
               FROM register_staging""",
            p,
        ).rowcount
        closed = conn.execute("SELECT count(*) AS n FROM register_staging WHERE end_date IS NOT NULL").fetchone()["n"]
        return inserted, closed, conflicts

    # A daily change is small against a large register: look its BSNs up by index rather
    # than hash the whole register (the default cost model assumes spinning disks).
    conn.execute("SET LOCAL random_page_cost = 1.1")
    closed = 0
    # 1. A sign-off of a subscription we hold open: close it on its end date.
    closed += conn.execute(
        """UPDATE register_periods p SET end_date = s.end_date, closed_by_refresh = %(r)s
           FROM register_staging s
           WHERE p.connection_id = %(c)s AND p.end_date IS NULL
             AND s.bsn = p.bsn AND s.begin_date = p.begin_date AND s.end_date IS NOT NULL""",
        p,
    ).rowcount
    # 2. A later subscription of a BSN we hold open since earlier: the old one ended
    #    (at the latest) when the new one began.
    closed += conn.execute(
        """UPDATE register_periods p SET end_date = n.next_begin, closed_by_refresh = %(r)s
           FROM (SELECT o.id, min(s.begin_date) AS next_begin
                 FROM register_periods o
                 JOIN register_staging s ON s.bsn = o.bsn AND s.begin_date > o.begin_date
                 WHERE o.connection_id = %(c)s AND o.end_date IS NULL
                 GROUP BY o.id) n
           WHERE p.id = n.id""",
        p,
    ).rowcount
    # 3. A full list is everybody subscribed on its PeilDatum: whoever we hold open and
    #    is not on it signed off; the day is not in the answer, so the PeilDatum's day
    #    is recorded (the latest it can be).
    if refresh["kind"] == rules.FULL:
        closed += conn.execute(
            """UPDATE register_periods p SET end_date = greatest(%(day)s::date, p.begin_date),
                                            closed_by_refresh = %(r)s
               WHERE p.connection_id = %(c)s AND p.end_date IS NULL
                 AND NOT EXISTS (SELECT 1 FROM register_staging s WHERE s.bsn = p.bsn)""",
            p,
        ).rowcount
    # 4. Entries that contradict the history we hold (same subscription with another end
    #    date, or overlapping a known period) are not applied: history is never rewritten.
    conflicts += conn.execute(
        """SELECT count(*) AS n FROM register_staging s
           WHERE EXISTS (
               SELECT 1 FROM register_periods p
               WHERE p.connection_id = %(c)s AND p.bsn = s.bsn
                 AND NOT (p.begin_date = s.begin_date AND p.end_date IS NOT DISTINCT FROM s.end_date)
                 AND (p.begin_date = s.begin_date
                      OR (p.end_date IS DISTINCT FROM p.begin_date
                          AND p.begin_date < coalesce(s.end_date, 'infinity'::date)
                          AND coalesce(p.end_date, 'infinity'::date) > s.begin_date)))""",
        p,
    ).fetchone()["n"]
    # 5. New subscriptions (and whole periods that began and ended since the last
    #    refresh): insert what the register does not hold yet.
    inserted_rows = conn.execute(
        """INSERT INTO register_periods (connection_id, bsn, begin_date, end_date,
                                         opened_by_refresh, closed_by_refresh)
           SELECT %(c)s, s.bsn, s.begin_date, s.end_date, %(r)s,
                  CASE WHEN s.end_date IS NULL THEN NULL ELSE %(r)s::bigint END
           FROM register_staging s
           WHERE NOT EXISTS (
               SELECT 1 FROM register_periods p
               WHERE p.connection_id = %(c)s AND p.bsn = s.bsn
                 AND (p.begin_date = s.begin_date
                      OR (p.end_date IS DISTINCT FROM p.begin_date
                          AND p.begin_date < coalesce(s.end_date, 'infinity'::date)
                          AND coalesce(p.end_date, 'infinity'::date) > s.begin_date)))
           RETURNING end_date IS NOT NULL AS closed""",
        p,
    ).fetchall()
    closed += sum(1 for r in inserted_rows if r["closed"])
    return len(inserted_rows), closed, conflicts


def _finish(conn, refresh: dict, snapshot_at: datetime, entries: int, opened: int, closed: int,
            conflicts: int, note: str | None, *, resolve_doubts: bool = True) -> None:
    connection_id, refresh_id = refresh["connection_id"], refresh["id"]
    conn.execute(
        """UPDATE register_refreshes
           SET status = 'applied', snapshot_at = %s, entries = %s, opened = %s, closed = %s,
               conflicts = %s, note = %s, applied_at = clock_timestamp(), error = NULL,
               answered_at = coalesce(answered_at, clock_timestamp())
           WHERE id = %s""",
        (snapshot_at, entries, opened, closed, conflicts, note, refresh_id),
    )
    # The answers hold BSNs: once applied (or given up on), only their size and hash stay.
    conn.execute(
        """UPDATE register_answers a SET content = NULL, purged_at = now()
           FROM register_refreshes r
           WHERE a.refresh_id = r.id AND r.connection_id = %s AND a.content IS NOT NULL
             AND (r.id = %s OR r.status = 'failed' OR a.request_id <> r.request_id)""",
        (connection_id, refresh_id),
    )
    day = rules.snapshot_day(snapshot_at)
    resolved = 0 if not resolve_doubts else conn.execute(
        """UPDATE register_doubts d SET resolved_at = now(),
                  resolution = 'refresh ' || %(r)s || ' (' || %(day)s || '): not subscribed any more'
           WHERE d.connection_id = %(c)s AND d.resolved_at IS NULL
             AND NOT register_is_active(%(c)s, d.bsn, %(day)s::date)""",
        {"r": refresh_id, "day": day, "c": connection_id},
    ).rowcount
    audit.record(conn, actor=ACTOR, action="register.applied", connection_id=connection_id,
                 details={"refresh_id": refresh_id, "day": refresh["logical_date"].isoformat(),
                          "kind": refresh["kind"], "snapshot_at": snapshot_at.isoformat(),
                          "entries": entries, "opened": opened, "closed": closed,
                          "conflicts": conflicts, "doubts_resolved": resolved, "note": note})


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


# =========================================================================== export


def export_for(conn, connection_id: int, day: date) -> dict | None:
    return conn.execute(
        "SELECT * FROM register_exports WHERE connection_id = %s AND register_date = %s",
        (connection_id, day),
    ).fetchone()


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
