"""The BSN register in PostgreSQL, write side: the refresh engine (requests, answers, apply).

Applying an answer happens in ONE transaction per connection: the answer is streamed
into a temporary staging table with COPY, then a few set-based statements open and
close periods (``register_periods``, see :mod:`bbx.store.register`); a connection's first
build in ascending BSN order is copied straight into ``register_periods`` instead. A
crash at any point leaves the register as it was before.

Over ~400 lines on purpose: staging, tidying, merging and finishing are one algorithm on
one temporary table inside one transaction, and read best side by side.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime

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
from bbx.store import audit, db

ACTOR = "bbx_register_refresh"
_APPLY_LOCK = 0x0BB0_0020  # advisory lock class: one apply per connection at a time
_ANALYZE_AFTER = 50_000  # changed periods after which the table's statistics are renewed


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
        return apply_entries(conn, refresh_id, header, _Rereadable(content, entries))
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


class _Rereadable:
    """The entries of a stored answer: the stream already opened first, the stored
    content parsed afresh on each later iteration."""

    def __init__(self, content: bytes, first: Iterable[SubscriptionEntry]) -> None:
        self._content, self._first = content, first

    def __iter__(self):
        if self._first is not None:
            first, self._first = self._first, None
            return iter(first)
        return iter(iter_subscription_answer(io.BytesIO(self._content))[1])


def apply_entries(conn, refresh_id: int, header: AnswerHeader, entries: Iterable[SubscriptionEntry]) -> ApplyResult:
    """Apply an answer (its header and streamed entries) to the register, in one
    transaction per connection. Idempotent: an applied refresh is not applied again, and
    entries the register already holds change nothing. ``entries`` is read once, unless
    it can be read again (``iter(entries) is not entries``, as a stored answer): then a
    first build may be tried straight into the register and, if the answer is not
    strictly ascending by BSN, read again into staging."""
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
        has_periods = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM register_periods WHERE connection_id = %s) AS e", (connection_id,)
        ).fetchone()["e"]
        built = None if has_periods or iter(entries) is entries else _build_directly(conn, refresh, entries)
        if built is not None:
            total, closed = built
            opened, conflicts = total, 0
        else:
            total, unique_bsns = _load_staging(conn, entries)
            opened, closed, conflicts = _merge(conn, refresh, rules.snapshot_day(snapshot_at), unique_bsns,
                                               has_periods)
        if opened + closed >= _ANALYZE_AFTER:
            # fresh statistics, so the next (small) refresh gets index lookups, not a
            # hash of the whole register (autovacuum may not have come by yet)
            conn.execute("ANALYZE register_periods")
        _finish(conn, refresh, snapshot_at, total, opened, closed, conflicts, None)
        return ApplyResult(refresh_id, "applied", total, opened, closed, conflicts, snapshot_at)


class _NotAscending(Exception):
    """A first build's answer lists a BSN not after the one before (or one not from the
    parser): it goes through staging and its tidy instead."""


def _build_directly(conn, refresh: dict, entries: Iterable[SubscriptionEntry]) -> tuple[int, int] | None:
    """The first build of a connection's register from an answer in strictly ascending
    BSN order: COPY straight into ``register_periods``. That is what staging and
    ``_merge``'s first-build INSERT would write (no BSN twice: nothing to tidy, every
    entry new), but PostgreSQL writes the rows and their indexes while this process is
    still parsing the answer (the server works on the other core) instead of after it,
    and the COPY's data goes out from a writer thread (``db.overlapped_copy``, a few blocks ahead). Returns (entries, closed), or None
    when the answer turns out otherwise: then nothing of it was written (a savepoint)."""
    ended = SubscriptionStatus.ENDED
    check = rules.check_entry
    r = refresh["id"]
    open_tail = f"\t{refresh['connection_id']}\t{r}\t\\N\n"  # connection, opened by, not closed
    closed_tail = f"\t{refresh['connection_id']}\t{r}\t{r}\n"
    total, closed, previous = 0, 0, ""
    lines: list[str] = []
    try:
        with conn.transaction(), db.overlapped_copy(
                conn, """COPY register_periods (bsn, begin_date, end_date, connection_id, opened_by_refresh,
                                                 closed_by_refresh) FROM STDIN""") as copy:
            for total, (bsn, status, begin, end) in enumerate(entries, 1):
                if end is not None and end < begin or status is ended and end is None:
                    check(total, bsn, status is ended, begin, end)
                if not (bsn > previous and bsn.isdigit()):
                    raise _NotAscending
                previous = bsn
                if end is None:
                    lines.append(f"{bsn}\t{begin.isoformat()}\t\\N{open_tail}")
                else:
                    closed += 1
                    lines.append(f"{bsn}\t{begin.isoformat()}\t{end.isoformat()}{closed_tail}")
                if len(lines) == 5_000:
                    copy.write("".join(lines))
                    lines.clear()
            if lines:
                copy.write("".join(lines))
    except _NotAscending:
        return None
    return total, closed


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
    # COPY text written in chunks, not row by row (a million rows): a BSN of digits and
    # ISO dates need no escaping.
    lines: list[str] = []
    no_end = "\\N"
    with conn.cursor().copy("COPY register_staging (bsn, begin_date, end_date) FROM STDIN") as copy:
        for total, (bsn, status, begin, end) in enumerate(entries, 1):
            if end is not None and end < begin or status is ended and end is None:
                check(total, bsn, status is ended, begin, end)
            if ascending:
                ascending = bsn > previous
                previous = bsn
            if not bsn.isdigit():  # not from the parser: let psycopg escape (or refuse) it
                copy.write("".join(lines))
                lines.clear()
                copy.write_row((bsn, begin, end))
                continue
            lines.append(f"{bsn}\t{begin.isoformat()}\t{no_end if end is None else end.isoformat()}\n")
            if len(lines) == 20_000:
                copy.write("".join(lines))
                lines.clear()
        if lines:
            copy.write("".join(lines))
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


def _merge(conn, refresh: dict, snapshot_day: date, unique_bsns: bool, has_periods: bool) -> tuple[int, int, int]:
    """Set-based merge of ``register_staging`` into the connection's periods (``has_periods``:
    it holds some already). Returns (opened, closed, conflicts)."""
    p = {"c": refresh["connection_id"], "r": refresh["id"], "day": snapshot_day}
    if has_periods or not unique_bsns:
        # joins with the register (or the tidy's self-joins) follow: plan them from
        # statistics; the first build of distinct BSNs only reads the table once
        conn.execute("ANALYZE register_staging")
    conflicts = 0 if unique_bsns else _tidy_staging(conn)
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
