"""bbx_register_refresh as Airflow runs it (dag.test): one mapped group per connection,
the reschedule-mode sensor, the export over SFTP, a rerun of the same logical date."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from register_helpers import OIN_A, OIN_B, berichtenbox_connection, make_connection

from bbx.store import register as store
from simulator.clock import TZ

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAY = date(2026, 11, 9)


@pytest.fixture
def dag(airflow_db, monkeypatch):
    monkeypatch.setenv("BBX_REGISTER_POKE_SECONDS", "0.2")  # read when the DAG file is parsed
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "bbx_register_refresh.py"))
    assert bag.import_errors == {}
    return bag.dags["bbx_register_refresh"]


def _run(dag, day: date):
    run = dag.test(logical_date=datetime.combine(day, time(5, 0), TZ))
    tis = {(ti.task_id, ti.rendered_map_index or str(ti.map_index)): ti.state for ti in run.get_task_instances()}
    return run, tis


def test_daily_runs_and_a_rerun(dag, db, sim, sftp, monkeypatch):
    # a second connection (the simulator's default sender B) with an export
    make_connection(db, "pf_b", OIN_B, export=True)
    monkeypatch.setenv("AIRFLOW_CONN_BERICHTENBOX_PF_B", json.dumps(berichtenbox_connection(sim, OIN_B)))
    ids = {r["code"]: r["id"] for r in db.execute("SELECT id, code FROM connections")}

    for day in (DAY, DAY + timedelta(days=1)):
        sim.admin.set_today(day)
        run, tis = _run(dag, day)
        assert run.state == "success", tis
        # the mapped instances are named by connection code
        assert tis[("refresh.apply_answer", "gemeente_t")] == "success"
        assert tis[("refresh.apply_answer", "pf_b")] == "success"
        assert tis[("refresh.export_register", "gemeente_t")] == "skipped"  # no export asked
        assert tis[("refresh.export_register", "pf_b")] == "success"
        assert tis[("refresh.check_fresh", "pf_b")] == "success"
        for code, oin in (("gemeente_t", OIN_A), ("pf_b", OIN_B)):
            truth = {b for b, _, _ in sim.app.population(oin).active_on(day)}
            assert set(store.subscribed_on(db, ids[code], day, with_bsns=True)["bsns"]) == truth, (code, day)
        export = sftp / "gemeente-t" / "pf_b" / "outbox" / f"register-pf_b-{day}.csv"
        assert export.is_file() and (export.parent / (export.name + ".sha256")).is_file()

    kinds = [r["kind"] for r in db.execute(
        "SELECT kind FROM register_refreshes WHERE connection_id = %s ORDER BY logical_date", (ids["pf_b"],))]
    assert kinds == ["full", "changes"]

    # the same logical date again: nothing is asked, nothing changes
    requests = len(sim.admin.register_requests())
    before = db.execute("SELECT count(*) AS n, max(id) AS last FROM register_periods").fetchone()
    run, tis = _run(dag, DAY + timedelta(days=1))
    assert run.state == "success", tis
    assert len(sim.admin.register_requests()) == requests
    assert db.execute("SELECT count(*) AS n, max(id) AS last FROM register_periods").fetchone() == before
