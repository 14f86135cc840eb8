"""A connection's population in PostgreSQL (issue 16): hand-ins, membership, the
population side of the register's export and reports, and the person view.

Every hand-in is a submission (``kind = 'population'``, closed at once: nothing of it is
ever sent) and one row of ``population_versions``; membership is history
(``population_members``: opened by the version that added a BSN, closed by the one that
removed it). Applying a list is set-based: the checked BSNs are streamed into a
temporary table with COPY and ONE statement adds and removes members, in the caller's
transaction, so a crash leaves the population as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from bbx.domain import population as rules
from bbx.store import audit

ACTOR = "bbx_population"
_LOCK = 0x0BB0_0060  # advisory lock class: one population hand-in per connection at a time

# "a member of the population now", for a row aliased ``a`` with a ``bsn`` of connection %(c)s
# (used by the register export's intersection in bbx.store.register).
MEMBER_OF = """EXISTS (SELECT 1 FROM population_members pm WHERE pm.connection_id = {c}
                      AND pm.bsn = a.bsn AND pm.removed_by IS NULL)"""

# The one set-based statement per mode. It runs against one snapshot: the INSERT does not
# see the UPDATE's closures, which is exactly right (a full list re-adds nobody it keeps).
_REMOVE_WHERE = {
    "full": "NOT EXISTS (SELECT 1 FROM population_staging s WHERE s.bsn = m.bsn)",
    "additions": "false",
    "removals": "EXISTS (SELECT 1 FROM population_staging s WHERE s.bsn = m.bsn)",
}
_APPLY_SQL = """
WITH closed AS (
    UPDATE population_members m SET removed_by = %(v)s
    WHERE m.connection_id = %(c)s AND m.removed_by IS NULL AND {remove}
    RETURNING 1
), added AS (
    INSERT INTO population_members (connection_id, bsn, added_by)
    SELECT %(c)s, s.bsn, %(v)s FROM population_staging s
    WHERE {add} AND NOT EXISTS (SELECT 1 FROM population_members m
                                WHERE m.connection_id = %(c)s AND m.bsn = s.bsn AND m.removed_by IS NULL)
    RETURNING 1
)
SELECT (SELECT count(*) FROM closed)::int AS removed, (SELECT count(*) FROM added)::int AS added
"""


def mark_submission(conn, submission_id: int) -> None:
    """A submission that is a population hand-in (never planned for delivery)."""
    conn.execute("UPDATE submissions SET kind = 'population' WHERE id = %s", (submission_id,))


def apply(conn, *, connection_id: int, submission_id: int, mode: str, bsns: Iterable[str],
          rows_handed_in: int | Callable[[], int], rows_rejected: int | Callable[[], int],
          actor: str = ACTOR) -> dict:
    """Apply one checked list (``bsns``: valid, normalised, each once) in the caller's
    transaction; returns the version row. The submission is closed: nothing to deliver.
    The counts may be callables, asked once ``bsns`` is consumed (a list checked on the way)."""
    if mode not in rules.MODES:
        raise ValueError(f"unknown population mode {mode!r} (known: {', '.join(rules.MODES)})")
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK, connection_id))
    done = conn.execute("SELECT * FROM population_versions WHERE submission_id = %s", (submission_id,)).fetchone()
    if done is not None:  # a rerun after the commit: applied once
        return done
    mark_submission(conn, submission_id)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS population_staging (bsn char(9) NOT NULL) ON COMMIT DROP")
    conn.execute("TRUNCATE population_staging")
    valid = 0
    with conn.cursor().copy("COPY population_staging (bsn) FROM STDIN") as copy:
        for bsn in bsns:
            copy.write_row((bsn,))
            valid += 1
    # Fresh statistics on both sides, or the planner may take a nested loop over two big
    # sets (a member table it believes empty): ANALYZE samples, so it stays cheap at 1 M.
    conn.execute("ANALYZE population_staging")
    conn.execute("ANALYZE population_members")
    rows_handed_in = rows_handed_in() if callable(rows_handed_in) else rows_handed_in
    rows_rejected = rows_rejected() if callable(rows_rejected) else rows_rejected
    before = conn.execute(
        """SELECT coalesce(max(version), 0) AS version,
                  coalesce((SELECT members FROM population_versions WHERE connection_id = %(c)s
                            ORDER BY version DESC LIMIT 1), 0) AS members
           FROM population_versions WHERE connection_id = %(c)s""", {"c": connection_id},
    ).fetchone()
    version_id = conn.execute(
        """INSERT INTO population_versions (connection_id, submission_id, version, mode, rows_handed_in,
                                            rows_rejected, added, removed, unchanged, members)
           VALUES (%s, %s, %s, %s, %s, %s, 0, 0, 0, 0) RETURNING id""",
        (connection_id, submission_id, before["version"] + 1, mode, rows_handed_in, rows_rejected),
    ).fetchone()["id"]
    add = "true" if mode in ("full", "additions") else "false"
    # Hash joins only: a nested loop whose inner side is a scan of population_members
    # re-reads the pages this very statement is inserting (quadratic for a first list).
    conn.execute("SET LOCAL enable_nestloop = off")
    counts = conn.execute(_APPLY_SQL.format(remove=_REMOVE_WHERE[mode], add=add),
                          {"v": version_id, "c": connection_id}).fetchone()
    conn.execute("RESET enable_nestloop")
    changed = counts["added"] if mode != "removals" else counts["removed"]
    members = before["members"] + counts["added"] - counts["removed"]
    row = conn.execute(
        """UPDATE population_versions SET added = %s, removed = %s, unchanged = %s, members = %s
           WHERE id = %s RETURNING *""",
        (counts["added"], counts["removed"], valid - changed, members, version_id),
    ).fetchone()
    conn.execute(
        """UPDATE submissions SET status = 'closed', closed_at = now(), rows_handed_in = %s
           WHERE id = %s AND status = 'received'""", (rows_handed_in, submission_id),
    )
    audit.record(conn, actor=actor, action="population.applied", connection_id=connection_id,
                 submission_id=submission_id,
                 details={"version": row["version"], "mode": mode, "rows_handed_in": rows_handed_in,
                          "rows_rejected": rows_rejected, "added": row["added"], "removed": row["removed"],
                          "members": members})
    return row


def version_for(conn, submission_id: int) -> dict | None:
    return conn.execute("SELECT * FROM population_versions WHERE submission_id = %s", (submission_id,)).fetchone()


def current(conn, connection_id: int) -> dict | None:
    """The latest version of the connection's population (None: never handed in)."""
    return conn.execute(
        """SELECT v.*, s.channel, s.received_at FROM population_versions v
           JOIN submissions s ON s.id = v.submission_id
           WHERE v.connection_id = %s ORDER BY v.version DESC LIMIT 1""", (connection_id,),
    ).fetchone()


def versions(conn, connection_id: int, limit: int = 20) -> list[dict]:
    """The latest hand-ins, newest first (the population's part of the submission log)."""
    return conn.execute(
        """SELECT v.version, v.submission_id, v.mode, v.rows_handed_in, v.rows_rejected, v.added, v.removed,
                  v.unchanged, v.members, v.applied_at, s.channel, s.submitted_by
           FROM population_versions v JOIN submissions s ON s.id = v.submission_id
           WHERE v.connection_id = %s ORDER BY v.version DESC LIMIT %s""", (connection_id, limit),
    ).fetchall()


def is_member(conn, connection_id: int, bsn: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM population_members WHERE connection_id = %s AND bsn = %s AND removed_by IS NULL",
        (connection_id, bsn),
    ).fetchone() is not None


def export_counts(conn, connection_id: int, day: date) -> dict:
    """Subscribed on ``day``: in the population and outside it (the export's companion)."""
    row = conn.execute(
        f"""SELECT count(*)::int AS subscribed,
                   count(*) FILTER (WHERE {MEMBER_OF.format(c='%(c)s')})::int AS in_population
            FROM register_active_on(%(c)s, %(d)s) a""",
        {"c": connection_id, "d": day},
    ).fetchone()
    return {"subscribed_in_population": row["in_population"],
            "subscribed_outside_population": rules.outside_count(row["subscribed"], row["in_population"])}


def changes_split(conn, connection_id: int, start: date, end: date, *, with_bsns: bool = False) -> dict:
    """Sign-ups and sign-offs in ``[start, end]`` (as ``bbx.store.register.changes``), split
    by whether the BSN is in the connection's population now:
    ``{"in_population": {signups, signoffs[, signup_bsns, signoff_bsns]}, "outside_population": {...}}``."""
    if end < start:
        raise ValueError(f"the report period ends ({end}) before it starts ({start})")
    rows = conn.execute(
        f"""SELECT {MEMBER_OF.format(c='%(c)s')} AS member,
                   count(*) FILTER (WHERE a.begin_date BETWEEN %(s)s AND %(e)s)::int AS signups,
                   count(*) FILTER (WHERE a.end_date BETWEEN %(s)s AND %(e)s)::int AS signoffs
            FROM register_periods a
            WHERE a.connection_id = %(c)s
              AND (a.begin_date BETWEEN %(s)s AND %(e)s OR a.end_date BETWEEN %(s)s AND %(e)s)
            GROUP BY 1""",
        {"c": connection_id, "s": start, "e": end},
    ).fetchall()
    result = {key: {"signups": 0, "signoffs": 0} for key in ("in_population", "outside_population")}
    for r in rows:
        key = "in_population" if r["member"] else "outside_population"
        result[key] = {"signups": r["signups"], "signoffs": r["signoffs"]}
    if with_bsns:
        for key in result:
            result[key].update(signup_bsns=[], signoff_bsns=[])
        for column, field in (("begin_date", "signup_bsns"), ("end_date", "signoff_bsns")):
            for r in conn.execute(
                f"""SELECT DISTINCT a.bsn, {MEMBER_OF.format(c='%(c)s')} AS member FROM register_periods a
                    WHERE a.connection_id = %(c)s AND a.{column} BETWEEN %(s)s AND %(e)s ORDER BY a.bsn""",
                {"c": connection_id, "s": start, "e": end},
            ):
                result["in_population" if r["member"] else "outside_population"][field].append(r["bsn"])
    return result


def person_view(conn, connection_id: int, bsn: str, *, days: int, now: datetime | None = None) -> dict:
    """What a BRP system shows of one person at this connection: the subscription periods,
    whether the BSN is in the population, and the messages of the last ``days`` days with
    their outcomes. No personal content: no texts, subjects, references or PDFs."""
    since = (now or datetime.now().astimezone()) - timedelta(days=days)
    periods = conn.execute(
        """SELECT begin_date, end_date FROM register_periods WHERE connection_id = %s AND bsn = %s
           ORDER BY begin_date, id""", (connection_id, bsn),
    ).fetchall()
    messages = conn.execute(
        """SELECT m.message_id::text AS message_id, m.submission_id, s.channel, mt.code AS message_type,
                  mt.name AS message_type_name, m.outcome, m.outcome_code, m.outcome_reason,
                  m.created_at, m.sent_at, m.final_at
           FROM messages m JOIN submissions s ON s.id = m.submission_id
           LEFT JOIN message_types mt ON mt.id = m.message_type_id
           WHERE m.connection_id = %s AND m.bsn = %s AND m.created_at >= %s
           ORDER BY m.created_at DESC, m.id DESC""", (connection_id, bsn, since),
    ).fetchall()
    return {"periods": periods, "in_population": is_member(conn, connection_id, bsn),
            "since": since, "messages": messages}


def record_export_scope(conn, connection_id: int, day: date, *, scope: str, counts: dict | None) -> None:
    """What the export of ``day`` (already recorded by bbx.store.register_exports) held."""
    counts = counts or {}
    conn.execute(
        """UPDATE register_exports SET scope = %s, population_version = %s, subscribed_in_population = %s,
                  subscribed_outside_population = %s, companion_path = %s
           WHERE connection_id = %s AND register_date = %s""",
        (scope, counts.get("population_version"), counts.get("subscribed_in_population"),
         counts.get("subscribed_outside_population"), counts.get("path"), connection_id, day),
    )


def lock_population_handin(conn, connection_id: int) -> None:
    """Serialise API population hand-ins of one connection (Idempotency-Key) until commit."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (0x0BB0_0061, connection_id))


def earlier_handin(conn, connection_id: int, channel: str, external_ref: str) -> dict | None:
    """The submission an API population hand-in with this Idempotency-Key opened, if any."""
    return conn.execute(
        """SELECT s.id AS submission_id, s.kind, f.sha256, v.mode, v.id AS version_id
           FROM submissions s
           LEFT JOIN submission_files f ON f.submission_id = s.id
           LEFT JOIN population_versions v ON v.submission_id = s.id
           WHERE s.connection_id = %s AND s.channel = %s AND s.external_ref = %s""",
        (connection_id, channel, external_ref),
    ).fetchone()


def export_setting(conn, connection_id: int) -> dict:
    """Whether (and with which scope) the connection gets a register export."""
    return conn.execute("SELECT register_export, register_export_scope FROM connections WHERE id = %s",
                        (connection_id,)).fetchone()
