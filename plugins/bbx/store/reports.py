"""Reports per connection over a period: messages sent, messages not delivered, the
submission log. Subscribed BSNs on a date and sign-ups/sign-offs come from
:mod:`bbx.store.register`.

Sandbox submissions (*test* API keys) never reached MijnOverheid: the sent and
undelivered reports leave them out; the submission log lists them, marked ``sandbox``.

Periods are calendar dates in Dutch time (``REPORT_TIMEZONE``), both ends inclusive:
``start=2026-05-01, end=2026-05-31`` is the whole of May as tenants see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bbx.domain.localtime import TIMEZONE_NAME

REPORT_TIMEZONE = TIMEZONE_NAME

# [start 00:00, end+1 00:00) in Dutch time, as timestamptz bounds that use the indexes.
_PERIOD = (
    "(%(start)s::date::timestamp AT TIME ZONE '" + REPORT_TIMEZONE + "')",
    "((%(end)s::date + 1)::timestamp AT TIME ZONE '" + REPORT_TIMEZONE + "')",
)


def _in_period(column: str) -> str:
    return f"{column} >= {_PERIOD[0]} AND {column} < {_PERIOD[1]}"


# No index names messages.sent_at or final_at (migration 260: they change after a row is
# written). A message is sent, and reaches not_subscribed / failed / rejected, after its
# submission was received and before the submission's (latest) close: so the live
# submissions of the connection received before the period's end and not closed before its
# start hold every message of the period, read through (submission_id, row_number).
_SUBMISSIONS_OF_PERIOD = (
    f"s.connection_id = %(cid)s AND NOT s.sandbox AND s.received_at < {_PERIOD[1]}"
    f" AND (s.closed_at IS NULL OR s.closed_at >= {_PERIOD[0]})"
)


def sent_per_message_type(conn, connection_id: int, start: date, end: date) -> list[dict]:
    """Messages sent to MijnOverheid in the period, per message type, with what became of
    them so far. ``messages.sent_at`` is the latest send (delivery sets it again on a resend
    after a technical problem), so each message counts once, in the period of its latest send."""
    return conn.execute(
        f"""SELECT coalesce(mt.code, '-') AS message_type, coalesce(mt.name, '(no message type)') AS name,
                   count(*)::int AS sent,
                   count(*) FILTER (WHERE m.outcome = 'delivered')::int AS delivered,
                   count(*) FILTER (WHERE m.outcome = 'not_subscribed')::int AS not_subscribed,
                   count(*) FILTER (WHERE m.outcome = 'failed')::int AS failed,
                   count(*) FILTER (WHERE m.outcome IN ('planned', 'queued', 'sent'))::int AS awaiting_result
            FROM submissions s JOIN messages m ON m.submission_id = s.id
            LEFT JOIN message_types mt ON mt.id = m.message_type_id
            WHERE {_SUBMISSIONS_OF_PERIOD} AND {_in_period('m.sent_at')}
            GROUP BY 1, 2 ORDER BY 1""",
        {"cid": connection_id, "start": start, "end": end},
    ).fetchall()


def undelivered_per_message_type(conn, connection_id: int, start: date, end: date) -> list[dict]:
    """Messages that reached a final outcome other than delivered in the period (rejected
    at intake, not subscribed, failed), per message type and reason."""
    return conn.execute(
        f"""SELECT coalesce(mt.code, '-') AS message_type, coalesce(mt.name, '(no message type)') AS name,
                   m.outcome, coalesce(m.outcome_code, '') AS code, coalesce(m.outcome_reason, '') AS reason,
                   count(*)::int AS messages
            FROM submissions s JOIN messages m ON m.submission_id = s.id
            LEFT JOIN message_types mt ON mt.id = m.message_type_id
            WHERE {_SUBMISSIONS_OF_PERIOD} AND m.outcome IN ('rejected', 'not_subscribed', 'failed')
              AND {_in_period('m.final_at')}
            GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, messages DESC, 3, 4, 5""",
        {"cid": connection_id, "start": start, "end": end},
    ).fetchall()


def submission_log(conn, connection_ids: Sequence[int], start: date, end: date, *,
                   limit: int = 1000) -> list[dict]:
    """Everything handed in during the period: what, when, through which channel, by whom,
    its state and outcome counts, and every file with its SHA-256. Newest first."""
    subs = conn.execute(
        f"""SELECT s.id, c.code AS connection, s.channel, s.external_ref, s.submitted_by, s.received_at,
                   mt.code AS message_type, s.status, s.status_reason, s.rows_handed_in, s.closed_at, s.kind,
                   s.sandbox
            FROM submissions s JOIN connections c ON c.id = s.connection_id
            LEFT JOIN message_types mt ON mt.id = s.message_type_id
            WHERE s.connection_id = ANY(%(cids)s) AND {_in_period('s.received_at')}
            ORDER BY s.received_at DESC, s.id DESC LIMIT %(limit)s""",
        {"cids": list(connection_ids), "start": start, "end": end, "limit": limit},
    ).fetchall()
    if not subs:
        return []
    ids = [s["id"] for s in subs]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    for r in conn.execute(
        "SELECT submission_id, outcome, count(*)::int AS n FROM messages"
        " WHERE submission_id = ANY(%s) GROUP BY 1, 2", (ids,),
    ):
        counts[r["submission_id"]][r["outcome"]] = r["n"]
    files: dict[int, list[dict]] = {i: [] for i in ids}
    for r in conn.execute(
        "SELECT submission_id, file_name, role, size_bytes, sha256 FROM submission_files"
        " WHERE submission_id = ANY(%s) ORDER BY id", (ids,),
    ):
        files[r.pop("submission_id")].append(r)
    return [{**s, "counts": counts[s["id"]], "files": files[s["id"]]} for s in subs]
