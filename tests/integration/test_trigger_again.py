"""``make stack`` then ``make demo``: the stack's scheduler has already made the register
DAG's run for today's logical date, so the demo's trigger for that date gets 409 from
Airflow. ``AirflowApi.trigger`` uses that run instead (cleared when finished, waited for
when active) — checked against a real ``airflow api-server`` on its own metadata database,
with a DAG of one task serialized into it (no scheduler: the test sets run states itself
through the same REST API)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from api_helpers import airflow_api_server  # noqa: E402

from bbx.stack.airflow_api import AirflowApi  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DAG_ID = "bbx_test_trigger_again"
LOGICAL_DATE = "2026-12-01T05:00:00+01:00"  # with an offset, as the demo sends it
DAG_FILE = f'''
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
'''


@pytest.fixture(scope="module")
def api(airflow_db, module_database_url, tmp_path_factory):
    """One api-server for the module (its start-up is most of these tests' time); the
    tests use logical dates of their own. Airflow's metadata database is the session's
    in any case."""
    tmp_path = tmp_path_factory.mktemp("trigger_again")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "trigger_again.py").write_text(DAG_FILE)
    settings = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }
    subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "reserialize"],
        check=True,
        capture_output=True,
        env={**os.environ, **settings},
    )
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": "admin-pw"}))
    with airflow_api_server(
        {
            **settings,
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        },
        tmp_path,
        start_timeout=600,
    ) as base:
        client = AirflowApi(base, "admin", "admin-pw")
        client.wait_for_dags([DAG_ID], keep_paused=(DAG_ID,))
        yield client


def _set_state(api: AirflowApi, run_id: str, state: str) -> None:
    api.http.patch(f"/dags/{DAG_ID}/dagRuns/{run_id}", json={"state": state}).raise_for_status()


def test_a_second_trigger_for_the_same_logical_date_uses_the_existing_run(api):
    said: list[str] = []
    first = api.trigger(DAG_ID, logical_date=LOGICAL_DATE, run_after=LOGICAL_DATE, say=said.append)
    assert said == [] and api.run_state(DAG_ID, first) == "queued"
    # run_after: where the scheduler puts it among queued runs (a scheduled run's is its logical date)
    made = api.http.get(f"/dags/{DAG_ID}/dagRuns/{first}").json()
    assert made["run_after"] == made["logical_date"] == "2026-12-01T04:00:00Z"
    assert (
        api.http.post(f"/dags/{DAG_ID}/dagRuns", json={"logical_date": LOGICAL_DATE}).status_code
        == 409
    )

    # queued in a paused DAG: it runs once the DAG is unpaused, nothing to do
    assert api.trigger(DAG_ID, logical_date=LOGICAL_DATE, say=said.append) == first
    assert (
        said[-1]
        == f"{DAG_ID} for {LOGICAL_DATE}: run {first} exists (queued, DAG paused): used as it is"
    )

    # finished: cleared, so it runs again
    _set_state(api, first, "failed")
    assert api.trigger(DAG_ID, logical_date=LOGICAL_DATE, say=said.append) == first
    assert (
        said[-1]
        == f"{DAG_ID} for {LOGICAL_DATE}: run {first} existed (failed): cleared to run again"
    )
    assert api.run_state(DAG_ID, first) == "queued"

    # active in an unpaused DAG: waited for (here it "finishes" a moment later), then cleared
    api.unpause(DAG_ID)
    _set_state(api, first, "success")
    api.clear(DAG_ID, first)
    finisher = threading.Timer(3, _set_state, (api, first, "success"))
    finisher.start()
    begin = time.monotonic()
    try:
        assert api.trigger(DAG_ID, logical_date=LOGICAL_DATE, say=said.append, timeout=60) == first
    finally:
        finisher.join()
    assert time.monotonic() - begin >= 3
    assert said[-2:] == [
        f"{DAG_ID} for {LOGICAL_DATE}: run {first} is queued: waiting for it to finish",
        f"{DAG_ID} for {LOGICAL_DATE}: run {first} existed (success): cleared to run again",
    ]
    assert [r["dag_run_id"] for r in api.runs(DAG_ID)] == [first]  # never a second run for the date

    # the demo holds the register DAG before its triggers: in an unpaused DAG an active run
    # (here the queued one the clear made) is ended and the DAG paused; the trigger for its
    # logical date then clears it to run again
    api.hold(DAG_ID, say=said.append)
    assert (
        said[-1]
        == f"{DAG_ID}: run {first} (queued, started by the scheduler) ended, to be run again in order"
    )
    assert api.dag(DAG_ID)["is_paused"] and api.run_state(DAG_ID, first) == "failed"
    assert api.trigger(DAG_ID, logical_date=LOGICAL_DATE, say=said.append) == first
    assert (
        said[-1]
        == f"{DAG_ID} for {LOGICAL_DATE}: run {first} existed (failed): cleared to run again"
    )
    # a paused DAG's queued run waits for the unpause: hold leaves it so
    before = len(said)
    api.hold(DAG_ID, say=said.append)
    assert len(said) == before and api.run_state(DAG_ID, first) == "queued"


def test_await_run_waits_while_queued_and_names_the_log_of_a_failed_run(api):
    """``make demo`` under load: a run Airflow still has queued is waited on (progress lines),
    not given up after a fixed timer; a failed run ends the wait at once, naming its log."""
    from bbx.stack.processes import StackError

    said: list[str] = []
    run_id = api.trigger(DAG_ID, logical_date="2026-12-02T05:00:00+01:00")
    finisher = threading.Timer(4, _set_state, (api, run_id, "success"))
    finisher.start()
    try:
        assert api.await_run(DAG_ID, run_id, say=said.append, every=1) == "success"
    finally:
        finisher.join()
    assert said and all(line.startswith(f"{DAG_ID} run {run_id}: queued (") for line in said)

    # still queued when the (generous) limit is reached: said, with its state
    stuck = api.trigger(DAG_ID, logical_date="2026-12-03T05:00:00+01:00")
    with pytest.raises(StackError, match=re.escape(f"{DAG_ID} run {stuck} still queued after 1 s")):
        api.await_run(DAG_ID, stuck, limit=1)

    # failed: at once, with the failed task and where its log is
    api.http.patch(f"/dags/{DAG_ID}/dagRuns/{stuck}/taskInstances/nothing",
                   json={"new_state": "failed"}).raise_for_status()
    _set_state(api, stuck, "failed")
    with pytest.raises(StackError) as failed:
        api.await_run(DAG_ID, stuck, limit=3600)
    assert str(failed.value).startswith(f"{DAG_ID} run {stuck} failed: task nothing (try ")
    assert f"log: {api.base_url}/dags/{DAG_ID}/runs/{stuck}/tasks/nothing" in str(failed.value)

    # done: the caller's own check ends the wait while the run is active
    active = api.trigger(DAG_ID, logical_date="2026-12-04T05:00:00+01:00")
    assert api.await_run(DAG_ID, active, done=lambda: True) == "queued"
