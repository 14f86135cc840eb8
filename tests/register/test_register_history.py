"""The register against the simulator's truth: full build, daily changes, reruns,
backfills over a gap, runs applied out of order. Real PostgreSQL, real gzip answers
written by the simulator's answer code; no network (see test_register_e2e for that)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from register_helpers import OIN_B, Driver, make_connection, moment, population

from bbx.domain import register as rules
from bbx.store import register_refresh as refresh_store

BUILD = date(2026, 3, 2)


def test_full_build_then_daily_changes_equal_the_truth_every_day(driver: Driver):
    first = driver.refresh(BUILD)
    assert first.outcome == "applied"
    assert first.entries == len(driver.truth(BUILD)) > 1000
    assert first.opened == first.entries and first.closed == 0 and first.conflicts == 0
    assert driver.active(BUILD) == driver.truth(BUILD)
    assert driver.periods() == driver.expected_periods(BUILD, BUILD)

    day = BUILD
    signups = signoffs = 0
    for _ in range(6):
        day += timedelta(days=1)
        result = driver.refresh(day)
        assert result.outcome == "applied", result
        assert result.conflicts == 0
        signups += result.opened
        signoffs += result.closed
        assert driver.active(day) == driver.truth(day), f"register differs from the truth on {day}"
        assert driver.periods() == driver.expected_periods(BUILD, day)
        # yesterday's answer is still right about yesterday: history is kept, not overwritten
        assert driver.active(day - timedelta(days=1)) == driver.truth(day - timedelta(days=1))
    assert signups > 50 and signoffs > 20  # the population really changed


def test_rerun_of_a_day_changes_nothing(driver: Driver, db):
    driver.refresh(BUILD)
    refresh = refresh_store.refresh_for(db, driver.connection["id"], BUILD)
    before = driver.periods()
    audit_before = db.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"]

    assert refresh_store.apply_answer(db, refresh["id"]).outcome == "already_applied"
    with pytest.raises(rules.RegisterError, match="already answered or applied"):
        driver.ask(BUILD)
    assert driver.periods() == before
    assert db.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"] == audit_before
    # the stored answer (BSNs) is gone once applied; its hash stays
    answer = db.execute("SELECT content, sha256, purged_at FROM register_answers").fetchone()
    assert answer["content"] is None and answer["purged_at"] is not None and len(answer["sha256"]) == 64


def test_the_same_changes_applied_twice_change_nothing(driver: Driver, db):
    driver.refresh(BUILD)
    day = BUILD + timedelta(days=3)
    driver.refresh(day)
    after = driver.periods()
    # an answer that repeats changes already applied (the changes since the build, as on
    # `day`): the set-based merge recognises every entry
    refresh = driver.ask(day + timedelta(days=1))
    built = refresh_store.refresh_for(db, driver.connection["id"], BUILD)
    content = driver.answer_content({**refresh, "since": built["snapshot_at"]}, day)
    driver.answer(refresh, day, content)
    result = driver.apply(refresh)
    assert result.outcome == "applied" and result.entries > 0
    assert (result.opened, result.closed, result.conflicts) == (0, 0, 0)
    assert driver.periods() == after


def test_backfill_over_a_gap_ends_in_the_same_register_as_daily_runs(db, driver: Driver):
    daily = driver
    gap = Driver(db, make_connection(db, "gemeente_gap", OIN_B), daily.population)
    days = [BUILD + timedelta(days=i) for i in range(7)]

    for day in days:
        daily.refresh(day)
    for day in days[:3]:
        gap.refresh(day)
    # days 4..7 were missed; the backfill runs them on day 7: MijnOverheid answers with
    # the state of day 7 each time
    results = [gap.refresh(day, answered_on=days[-1]) for day in days[3:]]
    assert results[0].opened > 0
    assert all(r.outcome == "applied" for r in results)
    assert all((r.opened, r.closed) == (0, 0) for r in results[1:])
    assert gap.active(days[-1]) == daily.active(days[-1]) == daily.truth(days[-1])

    # The one thing a gap cannot show: a BSN that signed off AND on again inside it. The
    # service reports only its latest subscription, so the earlier one is recorded as
    # ending when the next began. Every other BSN has exactly the daily history.
    def by_bsn(periods):
        out = {}
        for bsn, begin, end in periods:
            out.setdefault(bsn, set()).add((begin, end))
        return out

    daily_h, gap_h = by_bsn(daily.periods()), by_bsn(gap.periods())
    differ = {b for b in daily_h.keys() | gap_h.keys() if daily_h.get(b) != gap_h.get(b)}
    assert all(daily.transitions(b, days[2], days[-1]) >= 2 for b in differ)
    for bsn in differ:
        assert {begin for begin, _ in gap_h[bsn]} <= {begin for begin, _ in daily_h[bsn]}
    print(f"{len(differ)} of {len(daily_h)} BSNs signed off and on within the gap")
    assert len(differ) < 0.01 * len(daily_h)


def test_overlapping_runs_applied_in_any_order_end_in_the_same_register(db, driver: Driver):
    daily = driver
    shuffled = Driver(db, make_connection(db, "gemeente_shuffled", OIN_B), daily.population)
    days = [BUILD + timedelta(days=i) for i in range(5)]
    for day in days:
        daily.refresh(day)
    shuffled.refresh(days[0])
    # a backfill with several active runs: all ask (the same MutatieDatum) before any applies;
    # the answers come at different moments and are applied newest first
    asked = [shuffled.ask(day) for day in days[1:]]
    for refresh, answered_on in zip(asked, days[1:], strict=True):
        shuffled.answer(refresh, answered_on)
    outcomes = [shuffled.apply(refresh).outcome for refresh in reversed(asked)]
    assert outcomes == ["applied", "superseded", "superseded", "superseded"]
    assert shuffled.periods() == daily.periods()
    statuses = {r["status"] for r in db.execute(
        "SELECT status FROM register_refreshes WHERE connection_id = %s", (shuffled.connection["id"],))}
    assert statuses == {"applied"}


def test_a_forced_full_list_reconciles_without_rewriting_history(db, driver: Driver):
    driver.refresh(BUILD)
    before = driver.periods()
    result = driver.refresh(BUILD + timedelta(days=4), force_full=True)
    assert result.outcome == "applied"
    after = driver.periods()
    day = BUILD + timedelta(days=4)
    assert driver.active(day) == driver.truth(day)
    # every period that was there is still there, or was only closed (never moved or deleted)
    kept = {(b, s) for b, s, _ in after}
    assert {(b, s) for b, s, _ in before} <= kept
    # sign-offs the full list cannot date are closed on the PeilDatum's day
    closed_now = {(b, s, e) for b, s, e in after if (b, s, None) in before and e is not None}
    assert closed_now and {e for _, _, e in closed_now} == {day}


def test_changes_cannot_be_applied_before_a_full_build(db, connection):
    drv = Driver(db, connection, population())
    plan = rules.plan_request(connection["code"], BUILD, moment(BUILD - timedelta(days=1)))
    assert plan.kind == rules.CHANGES
    with db.transaction():
        refresh = refresh_store.start_refresh(db, connection["id"], BUILD, plan, attempt=1)
    drv.answer(refresh, BUILD)
    with pytest.raises(rules.RegisterError, match="never built"):
        drv.apply(refresh)
    failed = refresh_store.refresh_for(db, connection["id"], BUILD)
    assert failed["status"] == "failed" and "full=true" in failed["error"]
    assert drv.periods() == set()
