"""SQL of the SFTP intake (aggregate: drops): the ``sftp_drops`` table and the look-ups
the intake steps need.

Submissions, files and rows themselves go through ``bbx.store.submissions`` (the one
way every channel writes them); this module only adds what is particular to drops.
"""

from __future__ import annotations

from psycopg.types.json import Jsonb

from bbx.domain import outcomes

_LOCK_CONNECTION = "bbx.intake.connection."


def lock_connection(conn, connection_id: int) -> None:
    """Serialise intake decisions of one connection (duplicate drops) until commit."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{_LOCK_CONNECTION}{connection_id}",))


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


def next_drop_id(conn) -> int:
    """Reserve the id of a new drop (its submission's external_ref names it)."""
    return conn.execute("SELECT nextval(pg_get_serial_sequence('sftp_drops', 'id')) AS id").fetchone()["id"]


def insert_drop(conn, *, drop_id: int, connection_id: int, name: str, marker: str | None, drop_key: str | None,
                fingerprint: str | None, message_type_code: str | None, submission_id: int,
                decision: str, duplicate_of: int | None, problems: list[dict], kind: str) -> None:
    conn.execute(
        """INSERT INTO sftp_drops (id, connection_id, name, marker, drop_key, fingerprint, message_type_code,
                                   submission_id, decision, duplicate_of, problems, kind)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (drop_id, connection_id, name, marker, drop_key, fingerprint, message_type_code, submission_id,
         decision, duplicate_of, Jsonb(problems), kind),
    )


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


def purgeable_archives(conn, connection_id: int, cutoff) -> list[dict]:
    """Archived drops of a connection finished before ``cutoff`` whose files are still kept."""
    return conn.execute(
        """SELECT id, archive_path FROM sftp_drops WHERE connection_id = %s AND state = 'done'
           AND purged_at IS NULL AND finished_at < %s""", (connection_id, cutoff),
    ).fetchall()


def mark_purged(conn, drop_id: int) -> None:
    conn.execute("UPDATE sftp_drops SET purged_at = now() WHERE id = %s", (drop_id,))
