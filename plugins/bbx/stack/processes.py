"""The stack's services as processes: each in a session of its own, with a pid file and
a log in the state folder; waiting for one to come up; ports."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from bbx import settings

SERVICES_ORDER = ("simulator", "sftp", "callback-receiver", "api-server", "scheduler", "dag-processor", "triggerer")
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
WORKER_PREFIX = "celery-worker-"


def default_state_dir() -> Path:
    return Path(os.environ.get("BBX_STACK_DIR", settings.DATA_DIR / "stack"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _session_members(sid: int) -> list[int]:
    """Every live process whose session id is ``sid`` (the service and all it forked)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields after the name: state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _service_names(state_dir: Path) -> list[str]:
    workers = sorted((p.stem for p in state_dir.glob(f"{WORKER_PREFIX}*.pid")),
                     key=lambda n: int(n.removeprefix(WORKER_PREFIX)) if n.removeprefix(WORKER_PREFIX).isdigit() else 0)
    return [*SERVICES_ORDER, "redis", *workers]


def _order(name: str) -> tuple[int, int]:
    """Stop order: Celery workers and Airflow first, then the simulator, SFTP, Redis."""
    if name.startswith(WORKER_PREFIX):
        return (0, 0)
    if name in AIRFLOW_COMPONENTS:
        return (1, AIRFLOW_COMPONENTS.index(name))
    return (2, SERVICES_ORDER.index(name) if name in SERVICES_ORDER else 99)


def read_pids(state_dir: Path | None = None) -> dict[str, int]:
    state_dir = state_dir or default_state_dir()
    pids = {}
    for name in _service_names(state_dir):
        path = _pid_file(state_dir, name)
        if path.exists():
            try:
                pids[name] = int(path.read_text().strip())
            except ValueError:
                continue
    return pids


def spawn(state_dir: Path, name: str, argv: list[str], env: dict | None = None, cwd: Path | None = None) -> int:
    """Start ``argv`` as a background service in a session of its own; pid file and log."""
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as log:
        process = subprocess.Popen(argv, env=env, cwd=cwd or settings.PROJECT_ROOT, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _pid_file(state_dir, name).write_text(f"{process.pid}\n")
    return process.pid


def _wait_for(what: str, check, timeout: float, log: Path, pid: int | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if pid is not None and not _alive(pid):
            raise StackError(f"{what} stopped while starting; see {log}")
        time.sleep(0.2)
    raise StackError(f"{what} did not start within {timeout:.0f} s; see {log}")


class StackError(RuntimeError):
    pass
