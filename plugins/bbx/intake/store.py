"""SQL of the SFTP intake: the drops table and the look-ups the checks need.

Submissions, files and rows themselves go through ``bbx.store.submissions`` (the one
way every channel writes them); this module only adds what is particular to drops.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from bbx.domain import outcomes
from bbx.domain.drop_check import Earlier

#: Outcomes that mean "this BSN was handed in for this message type and is (being) sent".
#: Rows rejected at intake, not subscribed or failed may be handed in again.
HANDED_IN_OUTCOMES = outcomes.sql_list(outcomes.HANDED_IN)  # bbx.domain.outcomes, for SQL IN

_LOCK_CONNECTION = "bbx.intake.connection."
_LOCK_MESSAGE_TYPE = "bbx.intake.message_type."


def lock_connection(conn, connection_id: int) -> None:
    """Serialise intake decisions of one connection (duplicate drops) until commit."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{_LOCK_CONNECTION}{connection_id}",))


def lock_message_type(conn, message_type_id: int) -> None:
    """Serialise writing rows of one message type (the earlier-hand-in check) until commit."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{_LOCK_MESSAGE_TYPE}{message_type_id}",))


def in_flight(conn, connection_id: int, name: str) -> dict | None:
    return conn.execute(
        "SELECT * FROM sftp_drops WHERE connection_id = %s AND name = %s AND state <> 'done'",
        (connection_id, name),
    ).fetchone()


def latest_drop(conn, connection_id: int, name: str) -> dict | None:
    return conn.execute(
        "SELECT * FROM sftp_drops WHERE connection_id = %s AND name = %s ORDER BY id DESC LIMIT 1",
        (connection_id, name),
    ).fetchone()


def drop(conn, drop_id: int) -> dict:
    return conn.execute("SELECT * FROM sftp_drops WHERE id = %s", (drop_id,)).fetchone()


def insert_drop(conn, *, connection_id: int, name: str, marker: str | None, drop_key: str | None,
                fingerprint: str | None, message_type_code: str | None, submission_id: int,
                decision: str, duplicate_of: int | None) -> int:
    return conn.execute(
        """INSERT INTO sftp_drops (connection_id, name, marker, drop_key, fingerprint, message_type_code,
                                   submission_id, decision, duplicate_of)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (connection_id, name, marker, drop_key, fingerprint, message_type_code, submission_id, decision,
         duplicate_of),
    ).fetchone()["id"]


def earlier_drop(conn, connection_id: int, *, drop_key: str | None, fingerprint: str) -> dict | None:
    """An earlier drop of this connection with the same drop_id or the same content that was
    (or is being) accepted — a re-upload of it is not processed again."""
    return conn.execute(
        """SELECT d.id, d.submission_id, d.drop_key, d.fingerprint, s.received_at,
                  (%(key)s::text IS NOT NULL AND d.drop_key = %(key)s) AS same_key
           FROM sftp_drops d JOIN submissions s ON s.id = d.submission_id
           WHERE d.connection_id = %(c)s AND d.decision = 'validate' AND s.status <> 'rejected'
             AND (d.fingerprint = %(fp)s OR (%(key)s::text IS NOT NULL AND d.drop_key = %(key)s))
           ORDER BY d.id LIMIT 1""",
        {"c": connection_id, "key": drop_key, "fp": fingerprint},
    ).fetchone()


def set_checked(conn, drop_id: int, *, row_count: int, problems: list[dict], notes: list[str]) -> None:
    conn.execute(
        "UPDATE sftp_drops SET row_count = %s, problems = %s, notes = %s WHERE id = %s",
        (row_count, Jsonb(problems), Jsonb(notes), drop_id),
    )


def set_validated(conn, drop_id: int, reports: list[str]) -> None:
    conn.execute(
        "UPDATE sftp_drops SET state = 'validated', reports = %s WHERE id = %s AND state = 'received'",
        (Jsonb(reports), drop_id),
    )


def set_done(conn, drop_id: int, *, archive_path: str | None, reports: list[str]) -> None:
    conn.execute(
        """UPDATE sftp_drops SET state = 'done', finished_at = now(), archive_path = %s, reports = %s
           WHERE id = %s AND state <> 'done'""",
        (archive_path, Jsonb(reports), drop_id),
    )


def message_type(conn, connection_id: int, code: str) -> dict | None:
    return conn.execute(
        "SELECT * FROM message_types WHERE connection_id = %s AND code = %s", (connection_id, code)
    ).fetchone()


def message_type_codes(conn, connection_id: int) -> list[dict]:
    return conn.execute(
        "SELECT code, active FROM message_types WHERE connection_id = %s ORDER BY code", (connection_id,)
    ).fetchall()


#: Up to this many earlier rows of a message type are fetched in one query and matched in
#: memory; beyond it the drop's BSNs go into a temporary table and the database joins.
EARLIER_IN_MEMORY = 250_000


def handed_in_earlier(conn, *, connection_id: int, message_type_id: int, submission_id: int,
                      bsns: Iterable[str]) -> dict[str, Earlier]:
    """Which of ``bsns`` were handed in for this message type by another submission of the
    connection (any channel) and are planned, on their way or delivered.

    Set-based, never a query per row: the other submissions of the connection that may
    hold this message type are found first (a small table); their rows of this type are
    either fetched in ONE query and matched in memory (the usual case: earlier phases are
    small), or — when there are many — the drop's BSNs go into a temporary table with
    COPY and ONE join answers for all of them. Call inside the transaction that writes the
    rows (after ``lock_message_type``).
    """
    candidates = [r["id"] for r in conn.execute(
        """SELECT id FROM submissions WHERE connection_id = %s AND id <> %s
           AND (message_type_id = %s OR message_type_id IS NULL)""",
        (connection_id, submission_id, message_type_id))]
    if not candidates:
        return {}
    where = f"""m.submission_id = ANY(%(candidates)s) AND m.message_type_id = %(type)s
                AND m.outcome IN {HANDED_IN_OUTCOMES}"""
    params = {"candidates": candidates, "type": message_type_id}
    earlier_rows = conn.execute(f"SELECT count(*) AS n FROM messages m WHERE {where}", params).fetchone()["n"]
    if earlier_rows == 0:
        return {}
    if earlier_rows <= EARLIER_IN_MEMORY:
        wanted = bsns if isinstance(bsns, (set, dict)) else set(bsns)
        found: dict[str, Earlier] = {}
        for r in conn.execute(
                f"""SELECT m.bsn, m.submission_id, s.received_at FROM messages m
                    JOIN submissions s ON s.id = m.submission_id WHERE {where}
                    ORDER BY m.submission_id""", params):
            if r["bsn"] in wanted and r["bsn"] not in found:
                found[r["bsn"]] = Earlier(r["submission_id"], r["received_at"])
        return found
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS intake_bsns (bsn char(9) NOT NULL) ON COMMIT DROP")
    conn.execute("TRUNCATE intake_bsns")
    with conn.cursor().copy("COPY intake_bsns (bsn) FROM STDIN") as copy:
        for bsn in bsns:
            copy.write_row((bsn,))
    conn.execute("ANALYZE intake_bsns")
    rows = conn.execute(
        f"""SELECT DISTINCT ON (b.bsn) b.bsn, m.submission_id, s.received_at
            FROM intake_bsns b
            JOIN messages m ON m.bsn = b.bsn AND m.connection_id = %(connection)s
            JOIN submissions s ON s.id = m.submission_id
            WHERE {where}
            ORDER BY b.bsn, m.submission_id""",
        {**params, "connection": connection_id},
    )
    return {r["bsn"]: Earlier(r["submission_id"], r["received_at"]) for r in rows}


def rejected_rows(conn, submission_id: int) -> dict[int, str]:
    return {
        r["row_number"]: r["outcome_reason"]
        for r in conn.execute(
            "SELECT row_number, outcome_reason FROM messages WHERE submission_id = %s AND outcome = %s",
            (submission_id, outcomes.Outcome.REJECTED.value),
        )
    }


def submission(conn, submission_id: int) -> dict:
    return conn.execute("SELECT * FROM submissions WHERE id = %s", (submission_id,)).fetchone()


def submission_files(conn, submission_id: int) -> list[dict]:
    return conn.execute(
        "SELECT file_name, role, size_bytes, sha256, received_at FROM submission_files"
        " WHERE submission_id = %s ORDER BY file_name",
        (submission_id,),
    ).fetchall()
