"""The delivery DAGs run end to end with ``dag.test()`` (Airflow's metadata DB, tasks
in-process, the results wait deferred and its trigger run inline) against the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from delivery_helpers import assert_exactly_once, bsns, read_csv, rows_for

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def _bericht_ids(world, sid: int) -> set[str]:
    rows = world.db.execute("SELECT message_id::text AS m FROM messages WHERE submission_id = %s", (sid,)).fetchall()
    world.db.commit()
    return {r["m"] for r in rows}


def _states(run) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        found.setdefault(ti.task_id, []).append(ti.state)
    return found


@pytest.fixture
def short_waits(monkeypatch):
    monkeypatch.setenv("BBX_HOOK_BACKOFF", "0.01")


def test_bbx_deliver_runs_plan_send_results(world, airflow_db, short_waits):
    numbers = bsns(2300, seed=71)
    world.subscribe("voorbeeld", numbers[:2000])
    world.subscribe("pf_metaal", numbers[:50])
    a = world.submit("voorbeeld", "PASPRT", rows_for(numbers), external_ref="dag-drop-a")
    b = world.submit("pf_metaal", "UPO2026", rows_for(numbers[:60]), channel="api", external_ref="api-1")
    world.sim.admin.set_faults(next_technisch_probleem=5)
    # results come a little later than the acknowledgement, as in real life
    world.sim.admin.settings(result_delay=0.5)

    dag = _dag("bbx_deliver")
    run = dag.test()
    assert run.state == "success", _states(run)
    states = _states(run)
    assert states["plan"] == ["success"] and states["await_results"] == ["success"]
    assert states["send"] == ["success"]  # 2 + 1 batches: one slice
    (label,) = [ti.rendered_map_index for ti in run.get_task_instances() if ti.task_id == "send"]
    assert label == f"slice 1/1: voorbeeld+pf_metaal, submissions {a}-{b} (3 batches)"

    assert world.counts(a)["delivered"] == 2000 and world.counts(a)["not_subscribed"] == 300
    assert world.counts(b)["delivered"] == 50 and world.counts(b)["not_subscribed"] == 10
    assert world.status(a) == world.status(b) == "closed"
    assert assert_exactly_once(world, [a, b]) == 2050
    assert len(read_csv(world.outbox("voorbeeld") / f"dag-drop-a.s{a}.results.csv")) == 2300
    assert len(read_csv(world.outbox("pf_metaal") / f"api.s{b}.undeliverable.csv")) == 10


def test_bbx_deliver_with_nothing_to_plan_starts_no_downstream_task(world, airflow_db):
    """A timer or asset run that finds nothing: plan is skipped, and with it send,
    await_results, new_holds and request_review (none of them starts a task process)."""
    run = _dag("bbx_deliver").test()
    assert run.state == "success", _states(run)
    states = _states(run)
    assert states["plan"] == states["await_results"] == states["new_holds"] == ["skipped"]
    assert set(states["send"]) == set(states["request_review"]) == {"skipped"}


def test_bbx_redeliver_after_an_outage(world, airflow_db, short_waits):
    """TechnischProbleem on every attempt (an outage at MijnOverheid) → failed; after the
    outage an operator triggers bbx_redeliver for that code → delivered, same BerichtIDs."""
    numbers = bsns(30, seed=72)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers))
    world.sim.admin.set_faults(technisch_probleem_rate=1.0)
    run = _dag("bbx_deliver").test()
    assert run.state == "success", _states(run)
    assert world.counts(sid)["failed"] == 30 and world.status(sid) == "closed"
    ids_before = _bericht_ids(world, sid)

    world.sim.admin.reset_faults()
    redo = _dag("bbx_redeliver").test(run_conf={"submission_id": sid, "retry_failed": True,
                                                "codes": ["TechnischProbleem"], "retry_stuck": False,
                                                "stuck_minutes": 240})
    assert redo.state == "success", _states(redo)
    assert world.counts(sid)["delivered"] == 30 and world.status(sid) == "closed"
    assert assert_exactly_once(world, [sid]) == 30
    assert _bericht_ids(world, sid) == ids_before  # the same BerichtIDs went again
    batches = world.db.execute("SELECT kind, count(*) AS n FROM batches WHERE submission_id = %s GROUP BY kind",
                               (sid,)).fetchall()
    assert {r["kind"]: r["n"] for r in batches} == {"initial": 1, "resend": 3}  # 2 TP resends + 1 redelivery
    audit = world.db.execute(
        "SELECT details FROM audit_log WHERE action = 'submission.redelivery' AND submission_id = %s", (sid,)).fetchone()
    world.db.commit()
    assert audit["details"]["failed_replanned"] == 30


def test_bbx_collect_results_picks_up_what_nobody_waits_for(world, airflow_db, short_waits):
    from bbx.delivery import plan, send

    numbers = bsns(5, seed=73)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers))
    planned = plan.plan_run("elsewhere", max_map_length=1024, url=world.url)
    send.send_batches(planned["slices"][0]["batch_ids"], url=world.url)
    import time

    time.sleep(0.2)
    run = _dag("bbx_collect_results").test()
    assert run.state == "success", _states(run)
    assert world.status(sid) == "closed" and world.counts(sid)["delivered"] == 5
