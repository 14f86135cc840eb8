"""Failures that mean what they say: a refusal, an unknown submission or an expired
results wait fails at once (no retries); the results wait polls in a trigger.

Real Airflow (``dag.test()``: metadata DB, task runner with its retry policy, triggers
run inline), real PostgreSQL, the simulator over mTLS with its fault injection."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from delivery_helpers import bsns, rows_for
from test_delivery_dags import _dag, _states


@pytest.fixture
def short_waits(monkeypatch):
    monkeypatch.setenv("BBX_HOOK_BACKOFF", "0.01")


def _wrong_cpa(world, monkeypatch, code: str = "voorbeeld") -> None:
    """The Airflow Connection names a CPA the adapter does not know: every call is a SOAP fault."""
    key = f"AIRFLOW_CONN_BERICHTENBOX_{code.upper()}"
    conn = json.loads(world.airflow_env[key])
    conn["extra"]["cpa_id"] = "cpa-that-does-not-exist"
    monkeypatch.setenv(key, json.dumps(conn))


def _tis(run, task_id: str):
    return [ti for ti in run.get_task_instances() if ti.task_id == task_id]


def _audit_count(world, action: str, sid: int) -> int:
    n = world.db.execute("SELECT count(*) AS n FROM audit_log WHERE action = %s AND submission_id = %s",
                         (action, sid)).fetchone()["n"]
    world.db.commit()
    return n


def test_refused_batch_is_sent_once_and_fails_with_its_label(world, airflow_db, short_waits, monkeypatch):
    """The adapter refuses (SOAP fault): the send task fails on its first try although
    bbx_deliver gives it retries=3, and the failed mapped task still shows its label."""
    numbers = bsns(3, seed=121)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers), channel="api")
    _wrong_cpa(world, monkeypatch)

    run = _dag("bbx_deliver").test()
    assert run.state == "failed", _states(run)
    (send,) = _tis(run, "send")
    assert send.state == "failed" and send.try_number == 1 and send.max_tries == 3
    assert send.rendered_map_index == f"slice 1/1: voorbeeld, submission {sid} batch 1"
    assert _audit_count(world, "delivery.batch_refused", sid) == 1  # one sendMessage, not four
    assert _states(run)["await_results"] == ["upstream_failed"]


def test_redeliver_of_an_unknown_submission_fails_at_once(world, airflow_db, short_waits):
    run = _dag("bbx_redeliver").test(run_conf={"submission_id": 987654, "retry_failed": True, "codes": [],
                                               "retry_stuck": False, "stuck_minutes": 240})
    assert run.state == "failed"
    (prepare,) = _tis(run, "prepare")
    assert prepare.state == "failed" and prepare.try_number == 1 and prepare.max_tries == 2


def _sent_without_results(world, seed: int, *, result_delay: float = 3600) -> int:
    """A submission whose batch the adapter acknowledged and whose results come after
    ``result_delay`` seconds (by default: not during the test)."""
    from bbx.delivery import plan, send

    numbers = bsns(4, seed=seed)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers), channel="api")
    world.sim.admin.settings(result_delay=result_delay)
    planned = plan.plan_run(f"by-hand-{seed}", max_map_length=1024, url=world.url)
    for s in planned["slices"]:
        send.send_batches(s["batch_ids"], url=world.url)
    return sid


def test_expired_results_wait_fails_without_retry(world, airflow_db, short_waits, monkeypatch):
    """No results within the wait (BBX_RESULT_WAIT_HOURS, here ~4 s): await_results fails
    on its first try although bbx_deliver gives it retries=3; the trigger did the waiting."""
    numbers = bsns(4, seed=122)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers), channel="api")
    world.sim.admin.settings(result_delay=3600)
    monkeypatch.setenv("BBX_RESULT_WAIT_HOURS", str(4 / 3600))

    run = _dag("bbx_deliver").test()
    assert run.state == "failed", _states(run)
    assert _states(run)["send"] == ["success"]
    (ti,) = _tis(run, "await_results")
    assert ti.state == "failed" and ti.try_number == 1 and ti.max_tries == 3
    assert world.status(sid) == "delivering"


def _trigger(sid_list, codes, *, seconds: float = 20.0):
    from bbx.triggers.results import BerichtenboxResultsTrigger

    return BerichtenboxResultsTrigger(
        submission_ids=sid_list, connection_codes=codes, poll_interval=0.5,
        deadline=(datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(),
    )


def _first_event(trigger) -> dict:
    async def first():
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), timeout=60))


def test_results_trigger_fires_when_results_wait_then_when_closed(world, short_waits):
    """The trigger's run() against the simulator over mTLS: 'results' once the adapter
    holds GLOBE-R-BV-Result messages, 'closed' once the collected submission is closed."""
    from bbx.delivery import results

    sid = _sent_without_results(world, seed=123, result_delay=1.0)
    trigger = _trigger([sid], ["voorbeeld"], seconds=30)
    assert trigger.serialize()[0] == "bbx.triggers.results.BerichtenboxResultsTrigger"
    event = _first_event(trigger)
    assert event["status"] == "results" and event["connection"] == "voorbeeld" and event["open"] == [sid]

    results.collect(submission_ids=[sid], url=world.url)
    assert world.status(sid) == "closed"
    assert _first_event(_trigger([sid], ["voorbeeld"]))["status"] == "closed"


def test_results_trigger_times_out_and_reports_refusals(world, short_waits, monkeypatch):
    sid = _sent_without_results(world, seed=124)
    # 5 s: sending no longer builds a zeep client (prebuilt sendMessage envelope), so the
    # first poll pays for the process's first one (seconds on a loaded machine)
    event = _first_event(_trigger([sid], ["voorbeeld"], seconds=5))
    assert event["status"] == "timeout" and event["open"] == [sid] and event["polls"] >= 2

    # a connection without its CPA id: permanent, reported at once (not polled until the deadline)
    key = "AIRFLOW_CONN_BERICHTENBOX_VOORBEELD"
    conn = json.loads(world.airflow_env[key])
    del conn["extra"]["cpa_id"]
    monkeypatch.setenv(key, json.dumps(conn))
    event = _first_event(_trigger([sid], ["voorbeeld"], seconds=600))
    assert event["status"] == "error" and event["polls"] == 1
    assert "BerichtenboxConfigError" in event["message"] and "cpa_id" in event["message"]
