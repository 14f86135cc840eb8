"""Tests of scheduled submissions (``send_at``) without waiting for the moment: the
submission is scheduled an hour ahead through its channel, and when the test has seen that
nothing happens before it, the moment "comes" — the stored ``send_at`` moves to a second
ago. The component decides with PostgreSQL's clock (``send_at <= now()``, see
bbx.store.waiting), so this is the same as the clock passing it, minus the sleep."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bbx.domain.localtime import TIMEZONE

AHEAD = timedelta(hours=1)  # far enough that no slow machine reaches it during a test


def ahead() -> datetime:
    """A moment an hour from now (Dutch time, whole seconds: what a person types)."""
    return (datetime.now(TIMEZONE) + AHEAD).replace(microsecond=0)


def send_day() -> date:
    """The day it is sent once its moment passed: today (Dutch time). Publication dates
    count from this day, not from the hour-ahead moment's (which may be tomorrow's)."""
    return datetime.now(TIMEZONE).date()


def moment_passes(conn, submission_id: int) -> datetime:
    """Moves the submission's ``send_at`` to a second ago (committed); returns it."""
    moment = conn.execute("UPDATE submissions SET send_at = now() - interval '1 second' WHERE id = %s "
                          "AND send_at IS NOT NULL RETURNING send_at", (submission_id,)).fetchone()["send_at"]
    conn.commit()
    return moment
