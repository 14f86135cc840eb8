"""The rules every channel (SFTP drop, web service, manual page) applies against what is
stored, in one place: which message type a hand-in names (and why it cannot be used),
its standard attachments, whether the connection takes hand-ins, and which BSNs were
already handed in for the message type.

The wording comes from :mod:`bbx.domain.rows`; each channel shows it in its own form
(a row reason, a rejected drop, an API error).
"""

from __future__ import annotations

from collections.abc import Iterable

from bbx.domain import attachments, outcomes
from bbx.domain import rows as row_rules
from bbx.domain.drop_check import Earlier
from bbx.store import administration

_LOCK_MESSAGE_TYPE = "bbx.intake.message_type."  # the same lock for every channel


# --------------------------------------------------------------------------- the connection


def connection_problem(connection: dict) -> row_rules.Problem | None:
    """None when the connection takes new hand-ins. An inactive one takes none, in any
    channel (the web service and manual page refuse, SFTP drops wait in inbox/); what was
    accepted before is held by delivery until it is active again."""
    return None if connection["active"] else row_rules.connection_inactive(connection["code"])


# --------------------------------------------------------------------------- message types


def message_type(conn, connection_id: int, code: str) -> dict | None:
    """The message type ``code`` of the connection (active or not), or None; with the id of
    the standard-text version its ``standard_text`` is (read in one statement, so the text
    a channel fills in and the version its messages record are the same)."""
    return conn.execute(
        """SELECT mt.*, (SELECT max(v.id) FROM standard_text_versions v WHERE v.message_type_id = mt.id)
                  AS standard_text_version_id
           FROM message_types mt WHERE mt.connection_id = %s AND mt.code = %s""", (connection_id, code)
    ).fetchone()


def message_type_codes(conn, connection_id: int, *, active_only: bool = False) -> list[dict]:
    return conn.execute(
        f"SELECT code, active FROM message_types WHERE connection_id = %s {'AND active' if active_only else ''}"
        " ORDER BY code", (connection_id,)
    ).fetchall()


def message_types(conn, connection_id: int, *, active_only: bool = False) -> list[dict]:
    """The connection's message types with their standard attachments (for listings)."""
    rows = conn.execute(
        f"""SELECT mt.id, mt.code, mt.name, mt.subject, mt.standard_text, mt.active,
                   coalesce((SELECT json_agg(json_build_object('position', mta.position, 'code', sa.code,
                                                               'description', sa.description)
                                             ORDER BY mta.position)
                             FROM message_type_attachments mta
                             JOIN standard_attachments sa ON sa.id = mta.standard_attachment_id
                             WHERE mta.message_type_id = mt.id), '[]'::json) AS standard_attachments,
                   v.version AS standard_text_version, v.source AS standard_text_source
            FROM message_types mt
            LEFT JOIN LATERAL (SELECT version, source FROM standard_text_versions
                               WHERE message_type_id = mt.id ORDER BY version DESC LIMIT 1) v ON true
            WHERE mt.connection_id = %s {'AND mt.active' if active_only else ''}
            ORDER BY mt.code""",
        (connection_id,),
    ).fetchall()
    return rows


def usable_message_type(conn, connection: dict, code: str) -> tuple[dict | None, row_rules.Problem | None]:
    """(the message type, None), or (None, why it cannot be used: unknown with "did you
    mean", or inactive) — the one look-up and wording of every channel."""
    row = message_type(conn, connection["id"], code)
    known = [] if row is not None else [
        row_rules.KnownType(r["code"], r["active"]) for r in message_type_codes(conn, connection["id"])]
    found = row_rules.KnownType(row["code"], row["active"]) if row is not None else None
    problem = row_rules.message_type_problem(code, connection["code"], found, known)
    return (row, None) if problem is None else (None, problem)


def standard_set(conn, message_type_id: int) -> attachments.StandardSet:
    """The message type's standard attachments, prepared for composing (merged if needed)."""
    return attachments.prepare_standard_set([
        attachments.SourcePdf(r["description"], bytes(r["content"]))
        for r in administration.standard_attachments(conn, message_type_id)])


# --------------------------------------------------------------------------- earlier hand-ins


#: Outcomes that mean "this BSN was handed in for this message type and is (being) sent".
#: Rows rejected at intake, not subscribed or failed may be handed in again.
HANDED_IN_OUTCOMES = outcomes.sql_list(outcomes.HANDED_IN)  # bbx.domain.outcomes, for SQL IN


def lock_message_type(conn, message_type_id: int) -> None:
    """Serialise writing rows of one message type (the earlier-hand-in check) until commit."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{_LOCK_MESSAGE_TYPE}{message_type_id}",))



#: Up to this many earlier rows of a message type are fetched in one query and matched in
#: memory; beyond it the drop's BSNs go into a temporary table and the database joins.
EARLIER_IN_MEMORY = 250_000


def handed_in_earlier(conn, *, connection_id: int, message_type_id: int, submission_id: int,
                      bsns: Iterable[str], sandbox: bool = False) -> dict[str, Earlier]:
    """Which of ``bsns`` were handed in for this message type by another submission of the
    connection (any channel) and are planned, on their way or delivered. Only hand-ins of
    the same kind count: a sandbox test never keeps a live letter from going, nor the
    other way round.

    Set-based, never a query per row: the other submissions of the connection that may
    hold this message type are found first (a small table); their rows of this type are
    either fetched in ONE query and matched in memory (the usual case: earlier phases are
    small), or — when there are many — the drop's BSNs go into a temporary table with
    COPY and ONE join answers for all of them. Call inside the transaction that writes the
    rows (after ``lock_message_type``).
    """
    candidates = [r["id"] for r in conn.execute(
        """SELECT id FROM submissions WHERE connection_id = %s AND id <> %s AND sandbox = %s
           AND (message_type_id = %s OR message_type_id IS NULL)""",
        (connection_id, submission_id, sandbox, message_type_id))]
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
