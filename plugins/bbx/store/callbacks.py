"""Callback endpoints and the callback outbox (``bbx.domain.callbacks``; migration 111).

Events are written in the caller's transaction, so a status change and its callback are
committed together or not at all; a connection without an endpoint gets none.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg.types.json import Jsonb

from bbx import crypto
from bbx.domain import callbacks as rules
from bbx.domain import outcomes
from bbx.store import audit

_FINAL = outcomes.sql_list(outcomes.FINAL_OUTCOMES)


def set_endpoint(conn, connection_id: int, url: str, *, actor: str) -> str:
    """Register (or replace) the connection's URL with a new secret; returns the secret
    (shown once)."""
    secret = rules.new_secret()
    conn.execute(
        """INSERT INTO callback_endpoints (connection_id, url, secret_encrypted, registered_by)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (connection_id) DO UPDATE SET url = EXCLUDED.url,
                  secret_encrypted = EXCLUDED.secret_encrypted, secret_variable = NULL, ca_pem = NULL,
                  registered_by = EXCLUDED.registered_by, registered_at = now()""",
        (connection_id, url, crypto.encrypt(secret), actor),
    )
    audit.record(conn, actor=actor, action="callback.registered", connection_id=connection_id, details={"url": url})
    return secret


def remove_endpoint(conn, connection_id: int, *, actor: str, configured: bool = False) -> bool:
    """Remove the endpoint; ``configured``: only one the configuration set (a config apply
    without ``callback`` leaves a tenant's own registration alone)."""
    gone = conn.execute("DELETE FROM callback_endpoints WHERE connection_id = %s"
                        + (" AND secret_variable IS NOT NULL" if configured else ""), (connection_id,)).rowcount
    if gone:
        audit.record(conn, actor=actor, action="callback.removed", connection_id=connection_id)
    return bool(gone)


def configure_endpoint(conn, connection_id: int, url: str | None, secret_variable: str | None, *,
                       actor: str, ca_pem: str | None = None) -> str:
    """The configuration's callback (``callback.url`` + ``callback.secret_variable``, and the
    receiver's CA bundle ``callback.ca_file``) for a connection: created, updated or
    unchanged; with ``url`` None a configured one is removed (``removed``, else ``unchanged``)."""
    if url is None:
        return "removed" if remove_endpoint(conn, connection_id, actor=actor, configured=True) else "unchanged"
    current = conn.execute("SELECT url, secret_variable, ca_pem FROM callback_endpoints WHERE connection_id = %s",
                           (connection_id,)).fetchone()
    if current is not None and (current["url"], current["secret_variable"], current["ca_pem"]) == (
            url, secret_variable, ca_pem):
        return "unchanged"
    conn.execute(
        """INSERT INTO callback_endpoints (connection_id, url, secret_variable, ca_pem, registered_by)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (connection_id) DO UPDATE SET url = EXCLUDED.url, secret_encrypted = NULL,
                  secret_variable = EXCLUDED.secret_variable, ca_pem = EXCLUDED.ca_pem,
                  registered_by = EXCLUDED.registered_by, registered_at = now()""",
        (connection_id, url, secret_variable, ca_pem, actor),
    )
    audit.record(conn, actor=actor, action="callback.registered", connection_id=connection_id,
                 details={"url": url, "secret_variable": secret_variable, "own_ca": ca_pem is not None,
                          "source": "config"})
    return "created" if current is None else "updated"


def endpoint(conn, connection_id: int) -> dict | None:
    """The endpoint; ``configured``: set by the tenant configuration (not changeable through
    the web service)."""
    return conn.execute("SELECT connection_id, url, registered_by, registered_at, "
                        "secret_variable IS NOT NULL AS configured, ca_pem IS NOT NULL AS own_ca FROM callback_endpoints "
                        "WHERE connection_id = %s", (connection_id,)).fetchone()


def enqueue(conn, submission_id: int, event: str, payload: dict) -> int:
    """One event for the submission's connection, if it has an endpoint. Returns rows added.
    A sandbox submission's events say ``"sandbox": true`` (a test key's: nothing reached
    MijnOverheid)."""
    assert event in rules.EVENTS, event
    return conn.execute(
        """INSERT INTO callback_outbox (connection_id, submission_id, event, payload)
           SELECT s.connection_id, s.id, %s,
                  %s::jsonb || CASE WHEN s.sandbox THEN '{"sandbox": true}'::jsonb ELSE '{}'::jsonb END
           FROM submissions s
           JOIN callback_endpoints e ON e.connection_id = s.connection_id WHERE s.id = %s""",
        (event, Jsonb(payload), submission_id),
    ).rowcount


def _has_endpoint(conn, submission_id: int) -> bool:
    return conn.execute("""SELECT EXISTS (SELECT 1 FROM submissions s JOIN callback_endpoints e
                                          ON e.connection_id = s.connection_id WHERE s.id = %s) AS yes""",
                        (submission_id,)).fetchone()["yes"]


def submission_accepted(conn, submission_id: int, rows_handed_in: int) -> None:
    if _has_endpoint(conn, submission_id):
        enqueue(conn, submission_id, "submission.accepted",
                {"submission": submission_id, "rows_handed_in": rows_handed_in})


def submission_closed(conn, submission_id: int, counts: dict[str, int]) -> None:
    """``submission.closed`` with the counts, then the per-message final outcomes in pages
    (row number, BerichtID, outcome, code — no BSN: the tenant has it by row)."""
    if not _has_endpoint(conn, submission_id):
        return
    enqueue(conn, submission_id, "submission.closed", {"submission": submission_id, "counts": counts})
    page: list[dict] = []
    number = 0
    for r in conn.execute(
        f"""SELECT row_number, message_id::text AS message_id, outcome, outcome_code FROM messages
            WHERE submission_id = %s AND outcome IN {_FINAL} ORDER BY row_number""",
        (submission_id,),
    ):
        page.append({"row": r["row_number"], "message_id": r["message_id"], "outcome": r["outcome"],
                     "code": r["outcome_code"]})
        if len(page) == rules.MESSAGES_PER_EVENT:
            number += 1
            enqueue(conn, submission_id, "messages.final", {"submission": submission_id, "page": number,
                                                            "messages": page})
            page = []
    if page:
        enqueue(conn, submission_id, "messages.final", {"submission": submission_id, "page": number + 1,
                                                        "messages": page})


def due(conn, *, now: datetime, limit: int = 100) -> list[dict]:
    """Events due for a try, locked for this deliverer (a second one skips them)."""
    return conn.execute(
        """SELECT o.id, o.connection_id, o.submission_id, o.event, o.payload, o.attempts, o.created_at,
                  e.url, e.secret_encrypted, e.secret_variable, e.ca_pem
           FROM callback_outbox o JOIN callback_endpoints e ON e.connection_id = o.connection_id
           WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= %s
           ORDER BY o.id LIMIT %s FOR UPDATE OF o SKIP LOCKED""",
        (now, limit),
    ).fetchall()


def stored_secret(row: dict) -> str:
    """The secret BBX made at registration (a row of :func:`due` without ``secret_variable``)."""
    return crypto.decrypt(row["secret_encrypted"]).decode()


def take_for_retry(conn, connection_id: int, event_id: int, *, actor: str) -> dict | None:
    """Make one not yet delivered event of the connection due now (the tenant's or operator's
    "retry now"; the row is locked, for the operator's immediate post): a failed one is taken
    back from the failed list. Audited. None when the connection has no such event
    (delivered, purged, another connection's) or a deliverer is posting it right now."""
    row = conn.execute(
        """SELECT o.id, o.connection_id, o.submission_id, o.event, o.payload, o.attempts, o.created_at,
                  o.failed_at, e.url, e.secret_encrypted, e.secret_variable, e.ca_pem
           FROM callback_outbox o JOIN callback_endpoints e ON e.connection_id = o.connection_id
           WHERE o.id = %s AND o.connection_id = %s AND o.delivered_at IS NULL
           FOR UPDATE OF o SKIP LOCKED""",
        (event_id, connection_id),
    ).fetchone()
    if row is None:
        return None
    conn.execute("UPDATE callback_outbox SET failed_at = NULL, next_attempt_at = now() WHERE id = %s", (event_id,))
    audit.record(conn, actor=actor, action="callback.retry", connection_id=connection_id,
                 submission_id=row["submission_id"],
                 details={"event_id": event_id, "event": row["event"], "was_failed": row["failed_at"] is not None})
    return row


def delivered(conn, event_id: int, status: int) -> None:
    conn.execute("""UPDATE callback_outbox SET delivered_at = now(), attempts = attempts + 1, last_status = %s,
                           last_error = NULL WHERE id = %s""", (status, event_id))


def attempt_failed(conn, row: dict, *, status: int | None, error: str, now: datetime) -> bool:
    """Record a failed try; True when that was the last one (now a failed delivery)."""
    attempts = row["attempts"] + 1
    last = attempts >= rules.MAX_ATTEMPTS
    conn.execute(
        """UPDATE callback_outbox SET attempts = %s, last_status = %s, last_error = %s,
                  next_attempt_at = %s, failed_at = CASE WHEN %s THEN now() END WHERE id = %s""",
        (attempts, status, error[:500], now + timedelta(seconds=rules.delay_after(attempts)), last, row["id"]),
    )
    if last:
        audit.record(conn, actor="bbx-callbacks", action="callback.failed", connection_id=row["connection_id"],
                     submission_id=row["submission_id"],
                     details={"event": row["event"], "attempts": attempts, "error": error[:200], "attention": True})
    return last


def failed_deliveries(conn, connection_id: int, *, retrying: bool = False, limit: int = 200) -> list[dict]:
    """Events given up on, newest first; ``retrying``: then also those still being tried
    after a failed post (``state`` says which: failed, retrying — waiting for its backoff —
    or queued — due now, e.g. after "retry now", for the deliverer's next pass)."""
    still = " OR (delivered_at IS NULL AND attempts > 0)" if retrying else ""
    return conn.execute(
        f"""SELECT id, submission_id, event, created_at, attempts, failed_at, last_status, last_error,
                   CASE WHEN failed_at IS NULL THEN next_attempt_at END AS next_attempt_at,
                   CASE WHEN failed_at IS NOT NULL THEN 'failed'
                        WHEN next_attempt_at <= now() THEN 'queued' ELSE 'retrying' END AS state
            FROM callback_outbox WHERE connection_id = %s AND (failed_at IS NOT NULL{still})
            ORDER BY coalesce(failed_at, created_at) DESC, id DESC LIMIT %s""",
        (connection_id, limit),
    ).fetchall()


def failed_count(conn, connection_id: int) -> int:
    return conn.execute("SELECT count(*) AS n FROM callback_outbox WHERE connection_id = %s "
                        "AND failed_at IS NOT NULL", (connection_id,)).fetchone()["n"]


def pending_count(conn, connection_id: int) -> int:
    return conn.execute("""SELECT count(*) AS n FROM callback_outbox WHERE connection_id = %s
                           AND delivered_at IS NULL AND failed_at IS NULL""", (connection_id,)).fetchone()["n"]


def purge_outbox(conn, now: datetime, *, batch: int = 5000) -> dict[str, int]:
    """Delete delivered and failed events past their keep period (``bbx.domain.callbacks``),
    in batches of ``batch``, each its own transaction. Returns ``{delivered, failed}``."""
    removed = {}
    for state, days in (("delivered", rules.KEEP_DELIVERED_DAYS), ("failed", rules.KEEP_FAILED_DAYS)):
        removed[state] = 0
        while True:
            with conn.transaction():
                n = conn.execute(
                    f"""DELETE FROM callback_outbox WHERE id IN (
                          SELECT id FROM callback_outbox WHERE {state}_at < %(cutoff)s LIMIT %(batch)s)""",
                    {"cutoff": now - timedelta(days=days), "batch": batch},
                ).rowcount
            removed[state] += n
            if n < batch:
                break
    return removed
