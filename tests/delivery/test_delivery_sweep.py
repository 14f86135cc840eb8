"""The sweep for messages stuck in ``sent``: resent with the same BerichtIDs (through
bbx_redeliver's path) while sends remain, then failed with ``GeenResultaat``.

Real Airflow (``dag.test()`` of bbx_sweep_stuck), real PostgreSQL, the simulator over mTLS."""

from __future__ import annotations

import time

import pytest
from delivery_helpers import bsns, rows_for
from test_delivery_dags import _dag, _states


@pytest.fixture
def short_waits(monkeypatch):
    monkeypatch.setenv("BBX_HOOK_BACKOFF", "0.01")


def test_stuck_messages_are_resent_then_failed(world, airflow_db, short_waits):
    from bbx.delivery import plan, results, send

    numbers = bsns(4, seed=141)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers), channel="api")
    world.sim.admin.settings(result_delay=3600)  # acknowledged, but no result comes
    planned = plan.plan_run("stuck-run", max_map_length=1024, url=world.url)
    send.send_batches(planned["slices"][0]["batch_ids"], url=world.url)
    ids_before = {r["row_number"]: r["m"] for r in world.db.execute(
        "SELECT row_number, message_id::text AS m FROM messages WHERE submission_id = %s", (sid,))}
    # five hours without a result (the batch was sent then too: the sweep finds stuck
    # messages through their batch); row 1 has had all its sends already
    world.db.execute("UPDATE messages SET sent_at = now() - interval '5 hours' WHERE submission_id = %s", (sid,))
    world.db.execute("UPDATE batches SET sent_at = now() - interval '5 hours' WHERE submission_id = %s", (sid,))
    world.db.execute("UPDATE messages SET send_attempts = 3 WHERE submission_id = %s AND row_number = 1", (sid,))
    world.db.commit()
    world.sim.admin.settings(result_delay=0.0)

    run = _dag("bbx_sweep_stuck").test()
    assert run.state == "success", _states(run)
    assert _states(run)["send"] == ["success"]
    outcomes = world.outcomes(sid)  # by BSN, in row order
    assert outcomes[numbers[0]] == ("failed", "GeenResultaat")
    assert {outcomes[b][0] for b in numbers[1:]} <= {"sent", "delivered"}

    deadline = time.monotonic() + 30
    while results.open_submissions([sid], url=world.url) and time.monotonic() < deadline:
        results.collect(submission_ids=[sid], url=world.url)
        time.sleep(0.2)
    assert world.status(sid) == "closed"
    assert world.counts(sid)["delivered"] == 3 and world.counts(sid)["failed"] == 1
    # nobody got a letter twice: the resends carried the same BerichtIDs. (The message that
    # failed with GeenResultaat did arrive here — the simulator only withheld its result —
    # which is exactly what the operator it alerts must find out.)
    store = world.sim.app.store
    with store.lock:
        counts = {b: store.box_ids(b).count(ids_before[row]) for row, b in enumerate(numbers, start=1)}
    assert set(counts.values()) == {1}
    ids_after = {r["row_number"]: r["m"] for r in world.db.execute(
        "SELECT row_number, message_id::text AS m FROM messages WHERE submission_id = %s", (sid,))}
    assert ids_after == ids_before  # the same BerichtIDs went again
    kinds = world.db.execute("SELECT kind, count(*) AS n FROM batches WHERE submission_id = %s GROUP BY kind",
                             (sid,)).fetchall()
    audit = world.db.execute("SELECT actor, details FROM audit_log WHERE submission_id = %s AND action = %s",
                             (sid, "delivery.no_result")).fetchall()
    world.db.commit()
    assert {r["kind"]: r["n"] for r in kinds} == {"initial": 1, "resend": 1}
    assert [(a["actor"], a["details"]["failed"], a["details"]["attention"]) for a in audit] == [("bbx-sweep", 1, True)]

    # nothing stuck any more: the next sweep does nothing
    again = _dag("bbx_sweep_stuck").test()
    assert again.state == "success" and _states(again)["send"] == ["skipped"]
