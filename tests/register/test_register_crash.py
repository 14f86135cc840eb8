"""A crash during apply leaves the previous register intact: the applying process is
killed (SIGKILL, no cleanup) while streaming the answer and while PostgreSQL merges it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date

import psycopg
import pytest
from register_helpers import Driver, answer_gzip, moment

from bbx.domain import bsn as bsn_rules
from bbx.store import register_refresh as refresh_store

DAY1, DAY2 = date(2026, 3, 1), date(2026, 3, 2)

# Applies a changes answer of N new sign-ups to refresh REFRESH_ID; with KILL_AT=k the
# process kills itself after streaming k entries.
APPLIER = textwrap.dedent("""
    import os, signal, sys
    from datetime import date, datetime, timezone
    from simulator.population import check_digit
    from bbx.domain.subscription import AnswerHeader, SubscriptionEntry, SubscriptionStatus
    from bbx.store import db
    from bbx.store import register_refresh as refresh_store

    url, refresh_id, request_id, count, kill_at = sys.argv[1:]
    count, kill_at = int(count), int(kill_at)

    def bsns(n):
        prefix = 20_000_000
        while n:
            digit = check_digit(prefix)
            if digit is not None:
                yield f"{prefix * 10 + digit:09d}"
                n -= 1
            prefix += 1

    def entries():
        for i, bsn in enumerate(bsns(count)):
            if i == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            yield SubscriptionEntry(bsn, SubscriptionStatus.ACTIVE, date(2026, 3, 2), None)

    header = AnswerHeader(request_id, datetime(2026, 3, 2, 5, 0, tzinfo=timezone.utc))
    with db.connect(url) as conn:
        print(refresh_store.apply_entries(conn, int(refresh_id), header, entries()).outcome, flush=True)
""")


@pytest.fixture
def prepared(db, connection, database_url):
    """A register built on day 1 (3 BSNs) and an answered refresh of day 2."""
    driver = Driver(db, connection, None)
    refresh = driver.ask(DAY1)
    driver.answer(refresh, DAY1, answer_gzip(str(refresh["request_id"]), moment(DAY1),
                                             [(b, DAY1, None) for b in bsn_rules.generate(3, seed=77)]))
    driver.apply(refresh)
    refresh = driver.ask(DAY2)
    driver.answer(refresh, DAY2, answer_gzip(str(refresh["request_id"]), moment(DAY2), []))
    return driver, refresh


def _spawn(database_url, refresh, count, kill_at) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", APPLIER, database_url, str(refresh["id"]), str(refresh["request_id"]),
         str(count), str(kill_at)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _backends_gone(database_url, db, timeout=30.0) -> None:
    """Wait until the killed session is gone (its transaction rolled back): no session
    but this test's own ``db`` and the watcher."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as admin:
        while time.monotonic() < deadline:
            n = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend' AND pid <> %s", (db.info.backend_pid,)
            ).fetchone()[0]
            if n == 0:
                return
            time.sleep(0.05)
    raise AssertionError("the killed session is still there")


def _assert_untouched(db, driver, refresh, before):
    db.rollback()
    assert driver.periods() == before
    row = refresh_store.refresh_for(db, driver.connection["id"], DAY2)
    assert row["status"] == "answered" and row["applied_at"] is None
    assert db.execute("SELECT count(*) AS n FROM register_periods").fetchone()["n"] == 3


@pytest.mark.parametrize("kill_at", [1, 30_000], ids=["first-rows", "mid-stream"])
def test_killed_while_streaming_the_answer(db, database_url, prepared, kill_at):
    driver, refresh = prepared
    before = driver.periods()
    process = _spawn(database_url, refresh, 60_000, kill_at)
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGKILL
    _backends_gone(database_url, db)
    _assert_untouched(db, driver, refresh, before)


def test_killed_while_postgresql_merges_the_answer(db, database_url, prepared):
    driver, refresh = prepared
    before = driver.periods()
    process = _spawn(database_url, refresh, 200_000, -1)  # never kills itself
    merging = False
    with psycopg.connect(database_url, autocommit=True) as watcher:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            query = watcher.execute(
                "SELECT string_agg(query, ' | ') FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
            ).fetchone()[0] or ""
            if "INSERT INTO register_periods" in query:
                merging = True
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
    process.wait(timeout=60)
    assert merging, f"never saw the merge running: {process.communicate()}"
    _backends_gone(database_url, db)
    _assert_untouched(db, driver, refresh, before)
    # and the day still applies afterwards
    process = _spawn(database_url, refresh, 1_000, -1)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.strip() == "applied"
    assert db.execute("SELECT count(*) AS n FROM register_periods").fetchone()["n"] == 1_003
