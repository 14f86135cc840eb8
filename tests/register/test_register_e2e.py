"""The refresh through the Berichtenbox hook against the running simulator (HTTPS with
client certificates): ask, wait, apply, day by day on the simulator's clock; the
register equals the simulator's truth every day. Plus the live check."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest
from register_helpers import OIN_A, berichtenbox_connection

from bbx.register import live_check
from bbx.register import refresh as shell
from bbx.store import register as store
from bbx.store import register_refresh as refresh_store

DAY0 = date(2026, 11, 2)


def run_day(code: str, day: date, *, force_full: bool = False, timeout: float = 30.0):
    state = shell.request_refresh(code, day, force_full=force_full)
    deadline = time.monotonic() + timeout
    while not shell.answer_ready(code, day):
        assert time.monotonic() < deadline, f"no answer for {day}"
        time.sleep(0.05)
    return state, shell.apply_refresh(code, day)


def active(db, code: str, day: date) -> set[str]:
    cid = db.execute("SELECT id FROM connections WHERE code = %s", (code,)).fetchone()["id"]
    return set(store.subscribed_on(db, cid, day, with_bsns=True)["bsns"])


def test_day_by_day_the_register_equals_the_simulators_truth(db, sim):
    population = sim.app.population(OIN_A)
    day = DAY0
    sim.admin.set_today(day)
    state, result = run_day("gemeente_t", day)
    assert (state.kind, result.outcome) == ("full", "applied")
    assert active(db, "gemeente_t", day) == {b for b, _, _ in population.active_on(day)}

    changes = 0
    for _ in range(4):
        day += timedelta(days=1)
        sim.admin.set_today(day)
        state, result = run_day("gemeente_t", day)
        assert (state.kind, result.outcome) == ("changes", "applied")
        changes += result.opened + result.closed
        truth = {b for b, _, _ in population.active_on(day)}
        assert active(db, "gemeente_t", day) == truth, day
        # spot-check through the simulator's own API
        for bsn in sorted(truth)[:3] + sim.admin.sample(OIN_A, "inactive", 3, day=day):
            answer = sim.admin.subscription(OIN_A, bsn, day)
            cid = db.execute("SELECT id FROM connections WHERE code = 'gemeente_t'").fetchone()["id"]
            assert store.is_subscribed(db, cid, bsn, day) == answer["active"]
    assert changes > 100

    # rerunning a day asks nothing and changes nothing
    requests = len(sim.admin.register_requests())
    state = shell.request_refresh("gemeente_t", day)
    assert state.status == "applied"
    assert shell.apply_refresh("gemeente_t", day).outcome == "already_applied"
    assert len(sim.admin.register_requests()) == requests
    assert sim.admin.inbound() and all(m["processed"] for m in sim.admin.inbound())


def test_a_duplicated_answer_is_acknowledged_and_ignored(db, sim):
    sim.admin.set_today(DAY0)
    sim.admin.set_faults(next_duplicate_result=1)
    run_day("gemeente_t", DAY0)
    time.sleep(0.2)
    assert shell.collect_answers("gemeente_t") == {"stored": 0, "duplicate": 1, "unknown": 0, "incomplete": 0} or \
        all(m["processed"] for m in sim.admin.inbound())
    assert all(m["processed"] for m in sim.admin.inbound())
    ignored = db.execute("SELECT count(*) AS n FROM audit_log WHERE action = 'register.answer_ignored'").fetchone()["n"]
    assert ignored == 1


def test_a_refused_request_fails_the_refresh_with_a_clear_message(db, sim, monkeypatch):
    conn = berichtenbox_connection(sim, OIN_A)
    conn["extra"]["cpa_id"] = "cpa-unknown"
    monkeypatch.setenv("AIRFLOW_CONN_BERICHTENBOX_GEMEENTE_T", json.dumps(conn))
    with pytest.raises(shell.RefreshFailed, match="was refused .*CPA cpa-unknown not found.*berichtenbox_gemeente_t"):
        shell.request_refresh("gemeente_t", DAY0)
    cid = db.execute("SELECT id FROM connections WHERE code = 'gemeente_t'").fetchone()["id"]
    failed = refresh_store.refresh_for(db, cid, DAY0)
    assert failed["status"] == "failed" and "refused" in failed["error"]
    # fixed configuration: the rerun asks again (attempt 2) and succeeds
    monkeypatch.setenv("AIRFLOW_CONN_BERICHTENBOX_GEMEENTE_T", json.dumps(berichtenbox_connection(sim, OIN_A)))
    sim.admin.set_today(DAY0)
    state, result = run_day("gemeente_t", DAY0)
    assert result.outcome == "applied" and refresh_store.refresh_for(db, cid, DAY0)["attempt"] == 2


def test_live_check_asks_validate_abonnementen_in_calls_of_250(db, sim):
    sim.admin.set_today(DAY0)
    population = sim.app.population(OIN_A)
    subscribed = sim.admin.sample(OIN_A, "active", 260, day=DAY0)
    others = sim.admin.sample(OIN_A, "inactive", 20, day=DAY0) + sim.admin.sample(OIN_A, "never", 20, day=DAY0)
    answers = live_check("gemeente_t", subscribed + others, "UPO2026")
    assert answers == {b: population.is_active(b, DAY0) for b in subscribed + others}
    assert sum(answers.values()) == 260
    with pytest.raises(ValueError, match="at most 1000"):
        live_check("gemeente_t", population.sample(DAY0, "active", 1001), "UPO2026")


def test_a_request_recorded_but_never_sent_is_sent_by_the_rerun(db, sim):
    from bbx.domain import register as rules

    cid = db.execute("SELECT id FROM connections WHERE code = 'gemeente_t'").fetchone()["id"]
    db.commit()
    with db.transaction():  # as if the task crashed between recording and sendMessage
        plan = rules.plan_request("gemeente_t", DAY0, None)
        refresh_store.start_refresh(db, cid, DAY0, plan, attempt=1)
    sim.admin.set_today(DAY0)
    state, result = run_day("gemeente_t", DAY0)
    assert result.outcome == "applied"
    assert [r["verzoek_id"] for r in sim.admin.register_requests()] == [plan.request_id]


def test_an_unanswered_request_is_asked_again_after_the_timeout(db, sim):
    from datetime import UTC, datetime

    sim.admin.set_today(DAY0)
    first = shell.request_refresh("gemeente_t", DAY0)
    later = datetime.now(UTC) + timedelta(hours=9)  # no answer within ANSWER_TIMEOUT (8 h)
    second = shell.request_refresh("gemeente_t", DAY0, now=later)
    assert "attempt 2" in second.detail
    deadline = time.monotonic() + 30
    while not shell.answer_ready("gemeente_t", DAY0):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    shell.collect_answers("gemeente_t")  # the late answer to attempt 1 is acknowledged and ignored
    assert shell.apply_refresh("gemeente_t", DAY0).outcome == "applied"
    verzoeken = [r["verzoek_id"] for r in sim.admin.register_requests()]
    assert len(set(verzoeken)) == 2 and first.refresh_id == second.refresh_id
    assert all(m["processed"] for m in sim.admin.inbound())
    ignored = db.execute("SELECT details FROM audit_log WHERE action = 'register.answer_ignored'").fetchall()
    assert [r["details"]["request_id"] for r in ignored] == [verzoeken[0]]


def test_a_rebuild_with_the_full_list_on_a_day_already_refreshed(db, sim):
    sim.admin.set_today(DAY0)
    run_day("gemeente_t", DAY0)
    day = DAY0 + timedelta(days=1)
    sim.admin.set_today(day)
    state, _ = run_day("gemeente_t", day)
    assert state.kind == "changes"
    requests = len(sim.admin.register_requests())
    # the operator triggers a run with full=true the same day
    state, result = run_day("gemeente_t", day, force_full=True)
    assert (state.kind, result.outcome, result.opened, result.closed, result.conflicts) == ("full", "applied", 0, 0, 0)
    assert len(sim.admin.register_requests()) == requests + 1
    # a retry of that run asks nothing again
    assert shell.request_refresh("gemeente_t", day, force_full=True).status == "applied"
    assert len(sim.admin.register_requests()) == requests + 1
    truth = {b for b, _, _ in sim.app.population(OIN_A).active_on(day)}
    assert active(db, "gemeente_t", day) == truth
