"""A running stack (``Stack``, as written to ``stack.json``) and ``stop``; what a stack is
made of is ``bbx.stack.stack_settings``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bbx.stack.airflow_api import AirflowApi
from bbx.stack.processes import (
    SERVICES_ORDER,
    WORKER_PREFIX,
    _alive,
    _order,
    _pid_file,
    _session_members,
    default_state_dir,
    read_pids,
    spawn,
)
from bbx.stack.workers import _forget_broker_keys, start_worker

ADMIN_USER = "admin"


@dataclass
class Stack:
    """A running stack, as written to ``stack.json``."""

    state_dir: Path
    bbx_url: str
    airflow_url: str
    airflow_home: str
    api_url: str
    password: str
    simulator_url: str
    pki_dir: str
    sftp_port: int
    sftp_root: str
    tenant_passwords: dict[str, str]
    bbx_sftp_password: str
    env: dict[str, str]
    executor: str = "local"
    worker_concurrency: int = 2
    # the tenant-side HTTPS receiver of status callbacks (start._start_callback_receiver)
    callback_url: str = ""
    callback_record: str = ""  # one JSON line per post it received
    callback_secret_variable: str = ""  # the Airflow Variable (metadata database) with its HMAC secret
    reused: bool = False

    @classmethod
    def load(cls, state_dir: Path) -> Stack | None:
        path = state_dir / "stack.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["state_dir"] = Path(data["state_dir"])
        return cls(**data)

    def save(self) -> None:
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items() if k != "reused"}
        path = self.state_dir / "stack.json"
        path.write_text(json.dumps(data, indent=2))
        path.chmod(0o600)  # the sign-in and the SFTP passwords

    def running(self) -> bool:
        pids = read_pids(self.state_dir)
        return set(SERVICES_ORDER) <= set(pids) and all(_alive(p) for p in pids.values()) and self.api_healthy()

    # ---- Celery workers (executor "celery")
    def workers(self) -> dict[str, int]:
        return {n: p for n, p in read_pids(self.state_dir).items() if n.startswith(WORKER_PREFIX)}

    def start_worker(self, queues: str, concurrency: int | None = None) -> str:
        """One more ``airflow celery worker`` on ``queues``, in a session of its own."""
        return start_worker(self.state_dir, self.env, Path(self.airflow_home), queues,
                            concurrency or self.worker_concurrency)

    def worker_queues(self, name: str) -> str:
        path = self.state_dir / f"{name}.queues"
        return path.read_text().strip() if path.exists() else ""

    def kill_worker(self, name: str) -> int:
        """``kill -9`` of a worker with every process of its session (its pool processes and
        the tasks they run), as when its container or machine dies. Returns the processes killed."""
        members = _session_members(read_pids(self.state_dir)[name])
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _pid_file(self.state_dir, name).unlink(missing_ok=True)
        return len(members)

    def kill_service(self, name: str) -> int:
        """``kill -9`` of a service's whole session (e.g. the scheduler); restart with
        :meth:`restart_airflow_component`."""
        sid = read_pids(self.state_dir)[name]
        members = _session_members(sid)
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(members)

    def restart_airflow_component(self, component: str) -> int:
        return spawn(self.state_dir, component, [sys.executable, "-m", "airflow", component], env=self.env,
                     cwd=Path(self.airflow_home))

    def api_healthy(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def pki(self):
        from simulator.pki import make_test_pki

        return make_test_pki(Path(self.pki_dir), [])

    def admin(self):
        from simulator.client import AdminClient

        pki = self.pki()
        return AdminClient(self.simulator_url, pki.ca, pki.admin, timeout=120)

    def api(self) -> AirflowApi:
        return AirflowApi(self.api_url, ADMIN_USER, self.password)

    def airflow_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "airflow", *args], env={**os.environ, **self.env},
                              check=check, capture_output=True, text=True)


def stop(state_dir: Path | None = None, timeout: float = 30.0, quiet: bool = False) -> list[str]:
    """Stop every service of the stack in ``state_dir``: SIGTERM to every process of each
    service's session, SIGKILL to what is left after ``timeout``. Returns the names stopped."""
    state_dir = state_dir or default_state_dir()
    pids = read_pids(state_dir)
    running = Stack.load(state_dir)
    stopped = []
    # Airflow first (its tasks talk to the simulator and the SFTP server), then the rest
    for name in sorted(pids, key=_order):
        members = _session_members(pids[name])
        for pid in members:
            try:
                os.kill(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        if members:
            stopped.append(name)
    deadline = time.monotonic() + timeout
    for name, sid in pids.items():
        while _session_members(sid) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in _session_members(sid):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _pid_file(state_dir, name).unlink(missing_ok=True)
        if not quiet:
            print(f"    stopped {name} (session {sid})", flush=True)
    if running is not None and running.executor == "celery" and "redis" not in pids:
        _forget_broker_keys(running.env)
    for path in state_dir.glob(f"{WORKER_PREFIX}*.queues"):
        path.unlink()
    (state_dir / "stack.json").unlink(missing_ok=True)
    return stopped
