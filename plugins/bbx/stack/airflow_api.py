"""The few calls of Airflow's public REST API (v2) the demo, the benches and the tests make."""

from __future__ import annotations

import time

from bbx.stack.processes import StackError


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

    def trigger(self, dag_id: str, logical_date: str | None = None, conf: dict | None = None) -> str:
        body = {"logical_date": logical_date, "conf": conf or {}}
        response = self.http.post(f"/dags/{dag_id}/dagRuns", json=body)
        if response.status_code >= 400:
            raise StackError(f"triggering {dag_id} failed: {response.status_code} {response.text[:500]}")
        return response.json()["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}").raise_for_status().json()["state"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(0.5)
        return "timed out"

    def runs(self, dag_id: str, limit: int = 20) -> list[dict]:
        return self.http.get(f"/dags/{dag_id}/dagRuns", params={"limit": limit, "order_by": "-start_date"}
                             ).raise_for_status().json()["dag_runs"]
