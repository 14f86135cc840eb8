"""The web service's send limits per API key and per connection (rules in
bbx.domain.send_limits, state in PostgreSQL via bbx.store.send_limits): a refused request
gets HTTP 429 with ``Retry-After`` and BBX's error body. Each step runs in its own short
transaction on its own database connection, so that a count is visible to every
api-server worker at once and a slot is given back even when the request fails."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

from bbx.api.errors import ApiError
from bbx.api.limits import API_KEY_CONCURRENT_REQUESTS, API_KEY_REQUESTS_PER_MINUTE
from bbx.domain import localtime
from bbx.domain import send_limits as rules
from bbx.i18n import _
from bbx.store import db
from bbx.store import send_limits as store


def _refused(refusal: rules.Refusal) -> ApiError:
    return ApiError(429, refusal.code, refusal.message, headers={"Retry-After": str(refusal.retry_after)})


def _subjects(principal, connection: dict, limits: dict) -> list[tuple[str, str, int, int]]:
    """(subject, what it is called in messages, requests per minute, concurrent requests)."""
    # a test key's sends count in the sandbox's own budget, never in the live one (bbx.domain.send_limits)
    subjects = [(f"sandbox:{connection['id']}", _("the sandbox of connection {code}", code=repr(connection["code"])),
                 limits["rate_limit_per_minute"], limits["concurrency_limit"])] if principal.sandbox else [
        (f"connection:{connection['id']}", f"connection {connection['code']!r}",
         limits["rate_limit_per_minute"], limits["concurrency_limit"])]
    if principal.via == "api_key":
        key = principal.actor.removeprefix("api-key:")
        subjects.insert(0, (f"key:{key}", f"API key {key}", API_KEY_REQUESTS_PER_MINUTE,
                            API_KEY_CONCURRENT_REQUESTS))
    return subjects


@contextmanager
def send_slot(principal, connection: dict):
    """Count this send request against the rate limits and hold a concurrency slot while
    it runs; raises a 429 ApiError when a limit is reached."""
    now = datetime.now(UTC)
    taken: list[int] = []
    with db.connect() as conn:
        limits = store.connection_limits(conn, connection["id"])
        subjects = _subjects(principal, connection, limits)
        for subject, what, per_minute, _ in subjects:
            requests = store.count_request(conn, subject, rules.window_start(now))
            conn.commit()
            refusal = rules.rate(what, requests, per_minute, now)
            if refusal:
                raise _refused(refusal)
        try:
            for subject, what, _, at_once in subjects:
                store.lock_subject(conn, subject)
                refusal = rules.concurrency(what, store.running(conn, subject, now), at_once)
                if refusal:
                    conn.rollback()
                    raise _refused(refusal)
                taken.append(store.start(conn, subject, now + rules.INFLIGHT_EXPIRES))
                conn.commit()
            yield
        finally:
            if taken:
                conn.rollback()
                store.finish(conn, taken)
                conn.commit()


def check_daily_cap(conn, connection: dict, requested: int, *, sandbox: bool = False) -> None:
    """In the hand-in's transaction: refuse when the connection's daily cap would be passed
    (``sandbox``: the sandbox's own cap). The lock holds until that transaction commits, so
    two requests cannot both squeeze in."""
    cap = rules.SANDBOX_DAILY_MESSAGES if sandbox else store.connection_limits(conn, connection["id"])["daily_message_cap"]
    if cap is None:
        return
    store.lock_connection_day(conn, connection["id"])
    now = datetime.now(UTC)
    since = rules.day_start(now.astimezone(localtime.TIMEZONE).date(), localtime.TIMEZONE)
    refusal = rules.daily_cap(connection["code"], store.messages_since(conn, connection["id"], since, sandbox=sandbox),
                              requested, cap, now, localtime.TIMEZONE, sandbox=sandbox)
    if refusal:
        raise _refused(refusal)
