"""Limits per tenant on sending through the web service (pure: no I/O).

A rate limit counts requests in fixed one-minute windows; a concurrency limit counts
requests running at once; a daily cap counts messages handed in on one Dutch calendar
day. Each refusal tells when to try again (``Retry-After``, whole seconds).

Sandbox sends (*test* API keys, issue 14) never reach MijnOverheid, so they do not use up
the connection's live budget: a test run must never slow down or refuse a real send. They
count in a budget of their own — the same per-minute and at-once limits under a separate
subject, and a small fixed daily cap (``SANDBOX_DAILY_MESSAGES``) that keeps one tenant's
tests from filling the shared sandbox. A test key's own per-key limits apply as to any key."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bbx.i18n import _, number

WINDOW = timedelta(minutes=1)
CONCURRENCY_RETRY_SECONDS = 1  # a send request usually finishes within a second or two
INFLIGHT_EXPIRES = timedelta(minutes=10)  # a request row left by a crashed worker stops counting then
SANDBOX_DAILY_MESSAGES = 1_000  # sandbox messages per connection per Dutch calendar day


@dataclass(frozen=True)
class Refusal:
    code: str  # the API error code
    message: str
    retry_after: int  # seconds


def window_start(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def seconds_left(now: datetime, until: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def rate(what: str, requests: int, limit: int, now: datetime) -> Refusal | None:
    """The ``requests``-th request of this window (counted including this one)."""
    if requests <= limit:
        return None
    wait = seconds_left(now, window_start(now) + WINDOW)
    return Refusal("rate_limited", _("Too many send requests for {what}: at most {limit} per minute. "
                                     "Try again in {wait} s.", what=what, limit=number(limit), wait=wait), wait)


def concurrency(what: str, running: int, limit: int) -> Refusal | None:
    """``running``: requests running now, not counting this one."""
    if running < limit:
        return None
    return Refusal("too_many_concurrent_requests",
                   _("Too many send requests at once for {what}: at most {limit}. Wait for one to finish.",
                     what=what, limit=number(limit)),
                   CONCURRENCY_RETRY_SECONDS)


def daily_cap(connection: str, handed_in_today: int, requested: int, cap: int | None, now: datetime,
              zone, *, sandbox: bool = False) -> Refusal | None:
    """Messages already handed in today (all channels) plus this request, against the cap
    (``sandbox``: the sandbox's own, counting sandbox hand-ins only)."""
    if cap is None or handed_in_today + requested <= cap:
        return None
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    left = max(cap - handed_in_today, 0)
    if sandbox:
        return Refusal("daily_cap_reached",
                       _("Connection {connection} may hand in at most {cap} sandbox messages (test keys) a day; "
                         "{today} were handed in today, so {left} more may go today. Live keys are not affected.",
                         connection=repr(connection), cap=number(cap), today=number(handed_in_today),
                         left=number(left)),
                       seconds_left(now, midnight))
    return Refusal("daily_cap_reached",
                   _("Connection {connection} may hand in at most {cap} messages a day; {today} were handed in "
                     "today, so {left} more may go today. Try again tomorrow or ask your BBX operator to raise the cap.",
                     connection=repr(connection), cap=number(cap), today=number(handed_in_today), left=number(left)),
                   seconds_left(now, midnight))


def day_start(day: date, zone) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)
