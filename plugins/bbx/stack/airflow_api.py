"""The few calls of Airflow's public REST API (v2) the demo, the benches and the tests make."""

from __future__ import annotations

import time

from bbx.stack.processes import StackError

FINISHED = ("success", "failed")


class AirflowApi:
    """The few calls of Airflow's public REST API (v2) the demo and the tests need."""

    def __init__(self, base_url: str, username: str, password: str):
        import httpx

        self.base_url = base_url
        token = httpx.post(f"{base_url}/auth/token", json={"username": username, "password": password},
                           timeout=30)
        token.raise_for_status()
        self.http = httpx.Client(base_url=f"{base_url}/api/v2", timeout=60,
                                 headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    def dag(self, dag_id: str) -> dict | None:
        response = self.http.get(f"/dags/{dag_id}")
        return None if response.status_code == 404 else response.raise_for_status().json()

    def unpause(self, dag_id: str, paused: bool = False) -> None:
        self.http.patch(f"/dags/{dag_id}", json={"is_paused": paused}).raise_for_status()

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180, keep_paused: tuple[str, ...] = ()) -> None:
        """Wait until the dag-processor has parsed every DAG in ``dag_ids``; unpause them
        (except ``keep_paused``)."""
        deadline = time.monotonic() + timeout
        waiting = list(dag_ids)
        while waiting:
            for dag_id in list(waiting):
                found = self.dag(dag_id)
                if found is not None:
                    if found["is_paused"] and dag_id not in keep_paused:
                        self.unpause(dag_id)
                    waiting.remove(dag_id)
            if waiting:
                if time.monotonic() > deadline:
                    errors = self.http.get("/importErrors").json().get("import_errors", [])
                    raise StackError(f"DAGs not parsed within {timeout:.0f} s: {', '.join(waiting)}; "
                                     f"import errors: {[e.get('stack_trace', '')[-300:] for e in errors] or 'none'}")
                time.sleep(1)

    def trigger(self, dag_id: str, logical_date: str | None = None, conf: dict | None = None,
                say=None, timeout: float = 180, run_after: str | None = None) -> str:
        """A new run of ``dag_id``; returns its run id. A run with this ``logical_date`` may
        exist already (e.g. the scheduler of ``make stack`` made today's scheduled run):
        Airflow answers 409, and that run is used instead, see ``_run_again``. The
        scheduler starts queued runs in the order of their ``run_after`` (default: now),
        so runs that must go in logical-date order, beside a cleared scheduled run (whose
        ``run_after`` is its logical date), give their logical date there too."""
        body = {"logical_date": logical_date, "conf": conf or {}}
        if run_after is not None:
            body["run_after"] = run_after
        response = self.http.post(f"/dags/{dag_id}/dagRuns", json=body)
        if response.status_code == 409 and logical_date is not None:
            return self._run_again(dag_id, logical_date, say or (lambda line: None), timeout)
        if response.status_code >= 400:
            raise StackError(f"triggering {dag_id} failed: {response.status_code} {response.text[:500]}")
        return response.json()["dag_run_id"]

    def run_at(self, dag_id: str, logical_date: str) -> dict | None:
        """The run of ``dag_id`` with this logical date (Airflow allows one), or None."""
        runs = self.http.get(f"/dags/{dag_id}/dagRuns", params={"logical_date_gte": logical_date,
                                                                 "logical_date_lte": logical_date}
                             ).raise_for_status().json()["dag_runs"]
        return runs[0] if runs else None

    def clear(self, dag_id: str, run_id: str) -> None:
        """Run a finished run again: its task instances are cleared, the run is queued."""
        self.http.post(f"/dags/{dag_id}/dagRuns/{run_id}/clear", json={"dry_run": False}).raise_for_status()

    def _run_again(self, dag_id: str, logical_date: str, say, timeout: float) -> str:
        """The existing run for ``logical_date`` made to run (again) as a new one would: a
        finished run is cleared; an active one is waited for first, then cleared, so that
        what it does happens after the caller's preparation. An active run of a paused DAG
        cannot finish (the scheduler leaves paused DAGs alone) and is already due to run
        once the DAG is unpaused: it is used as it is."""
        run = self.run_at(dag_id, logical_date)
        if run is None:  # the 409 was about something else
            raise StackError(f"triggering {dag_id} for {logical_date} failed: 409, and no run has that logical date")
        run_id, state = run["dag_run_id"], run["state"]
        if state not in FINISHED:
            if self.dag(dag_id)["is_paused"]:
                say(f"{dag_id} for {logical_date}: run {run_id} exists ({state}, DAG paused): used as it is")
                return run_id
            say(f"{dag_id} for {logical_date}: run {run_id} is {state}: waiting for it to finish")
            state = self.wait_for_run(dag_id, run_id, timeout)
            if state not in FINISHED:
                raise StackError(f"{dag_id} run {run_id} did not finish within {timeout:.0f} s")
        self.clear(dag_id, run_id)
        say(f"{dag_id} for {logical_date}: run {run_id} existed ({state}): cleared to run again")
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}").raise_for_status().json()["state"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in FINISHED:
                return state
            time.sleep(0.5)
        return "timed out"

    def await_run(self, dag_id: str, run_id: str, limit: float = 3600, say=None, every: float = 30,
                  done=None) -> str:
        """Wait on what the run does, not on a short timer: while Airflow has it queued or
        running (a loaded machine may take minutes) keep waiting, with a progress line every
        ``every`` s; ``failed`` raises at once, naming the run and the failed tasks' logs. Only
        ``limit`` (generous) ends a wait on a run that never finishes. ``done`` (optional): a
        check that ends the wait early while the run is still active (returns its state)."""
        say = say or (lambda line: None)
        begin = time.monotonic()
        shown = begin
        while True:
            state = self.run_state(dag_id, run_id)
            if state == "success" or (state not in FINISHED and done is not None and done()):
                return state
            if state == "failed":
                raise StackError(f"{dag_id} run {run_id} failed: {self.failed_logs(dag_id, run_id)}")
            now = time.monotonic()
            if now - begin > limit:
                raise StackError(f"{dag_id} run {run_id} still {state} after {limit:.0f} s")
            if now - shown >= every:
                shown = now
                say(f"{dag_id} run {run_id}: {state} ({now - begin:.0f} s), waiting")
            time.sleep(0.5)

    def failed_logs(self, dag_id: str, run_id: str) -> str:
        """Where to read why a run failed: each failed task and its log (in the UI)."""
        tis = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                            params={"state": ["failed", "upstream_failed"]}).raise_for_status().json()
        failed = [ti for ti in tis["task_instances"] if ti["state"] == "failed"]
        if not failed:
            return f"no failed task (the run was set to failed); see {self.base_url}/dags/{dag_id}/runs/{run_id}"
        return "; ".join(f"task {ti['task_id']} (try {ti['try_number']}), log: "
                         f"{self.base_url}/dags/{dag_id}/runs/{run_id}/tasks/{ti['task_id']}" for ti in failed)

    def hold(self, dag_id: str, say=None) -> None:
        """Pause ``dag_id`` for a caller that triggers its runs itself, in its own order. A
        DAG ``make stack`` left unpaused may have a run of its scheduler's going (or waiting
        minutes for a retry): it is ended (state failed; a paused DAG's active run would
        stall), and the caller's trigger for that logical date clears it to run again. The
        runs of a DAG paused already stay as they are (they wait for the unpause)."""
        if self.dag(dag_id)["is_paused"]:
            return
        self.unpause(dag_id, paused=True)
        for run in self.active_runs(dag_id):
            self.http.patch(f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}", json={"state": "failed"}
                            ).raise_for_status()
            (say or (lambda line: None))(f"{dag_id}: run {run['dag_run_id']} ({run['state']}, started by the "
                                         "scheduler) ended, to be run again in order")

    def active_runs(self, dag_id: str) -> list[dict]:
        return self.http.get(f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"]}
                             ).raise_for_status().json()["dag_runs"]

    def runs(self, dag_id: str, limit: int = 20) -> list[dict]:
        return self.http.get(f"/dags/{dag_id}/dagRuns", params={"limit": limit, "order_by": "-start_date"}
                             ).raise_for_status().json()["dag_runs"]
