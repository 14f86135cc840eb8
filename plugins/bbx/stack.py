"""The local BBX platform as background services: start, reuse, stop.

Used by ``make demo`` / ``make stop`` (``python -m bbx.stack``), the browser test and
``bench/bench_delivery_e2e.py``, so each starts the platform the same way:

* the MijnOverheid simulator (HTTPS, client certificates, its own test PKI) and the
  tenant SFTP server;
* Airflow's api-server, scheduler, dag-processor and triggerer (LocalExecutor), with
  BBX's Airflow Connections and pool registered in the metadata database by
  ``bbx airflow setup`` (not through environment variables);
* or, with ``executor="celery"`` (``make stack EXECUTOR=celery``), the CeleryExecutor:
  Redis as the broker (127.0.0.1:6379 when it answers, else a ``redis-server`` started
  as a service of the stack), the metadata database as the result backend, and one
  ``airflow celery worker`` per entry of ``celery_workers`` (its queues): by default one
  on the ``default`` queue (intake, register, plan) and two on ``berichtenbox`` (send,
  collect results), each ``worker_concurrency`` processes; the ``berichtenbox`` pool caps
  concurrent sends over all workers.

Every service runs in a session of its own (``start_new_session``); ``stop`` signals every
process of each session — LocalExecutor workers and the task processes they fork into
process groups of their own included — so nothing is left behind. Per service: a pid file
``<state>/<name>.pid`` and a log ``<state>/logs/<name>.log``; ``<state>/stack.json`` holds
the addresses and the sign-in (state folder ``data/stack`` by default).

Overrides (for tests, benches and side-by-side runs): ``BBX_DATABASE_URL`` (BBX's
database), ``BBX_AIRFLOW_DATABASE_URL`` (Airflow's metadata database, default: database
``bbx_airflow`` beside BBX's), ``BBX_API_PORT`` (default 8080), ``BBX_STACK_DIR``,
``BBX_AIRFLOW_HOME``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bbx import airflow_env, settings

SERVICES_ORDER = ("simulator", "sftp", "api-server", "scheduler", "dag-processor", "triggerer")
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
WORKER_PREFIX = "celery-worker-"
ADMIN_USER = "admin"
SFTP_BBX_USER = "bbx"


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


@dataclass
class StackSettings:
    """What a stack is made of; everything has a default for ``make demo``."""

    bbx_url: str
    airflow_url: str
    state_dir: Path
    airflow_home: Path
    tenants_file: Path = settings.PROJECT_ROOT / "config" / "sample" / "tenants.yaml"
    api_port: int = 8080
    population_size: int = 5000
    result_delay: float = 0.5
    register_delay: float = 0.5
    today: str | None = None  # the simulator's starting date (None: the real date)
    # how the simulator writes results: "live" (as a live ebms-core adapter: VerwerkingsCode
    # 00, qualified root, Z times) or "documented" (interface.md §3); BBX reads both
    result_dialect: str = "live"
    parallelism: int = 8
    pool_slots: int = 4
    paused_at_creation: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    executor: str = "local"  # or "celery"
    # one Celery worker per entry: the queues it serves (comma-separated)
    celery_workers: tuple[str, ...] = ("default", "berichtenbox", "berichtenbox")
    worker_concurrency: int = 2
    # Redis DB number of the broker; every key also carries a prefix of this stack's own
    # (its state folder), so stacks of tests and benches never share a queue
    redis_db: int = 3

    @classmethod
    def default(cls, **changes) -> StackSettings:
        bbx_url = changes.pop("bbx_url", None) or settings.database_url()
        airflow_url = (changes.pop("airflow_url", None) or os.environ.get("BBX_AIRFLOW_DATABASE_URL")
                       or airflow_env.metadata_url(bbx_url))
        return cls(
            bbx_url=bbx_url, airflow_url=settings._normalise(airflow_url),
            state_dir=Path(changes.pop("state_dir", None) or default_state_dir()),
            airflow_home=Path(changes.pop("airflow_home", None)
                              or os.environ.get("BBX_AIRFLOW_HOME", airflow_env.AIRFLOW_HOME)),
            api_port=int(changes.pop("api_port", None) or os.environ.get("BBX_API_PORT", 8080)),
            **changes,
        )


# ------------------------------------------------------------------ processes
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


def _forget_broker_keys(env: dict[str, str]) -> None:
    """The stack's own keys in a shared Redis (its prefix): queues, bindings, unacked."""
    import redis

    prefix = env.get("AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX")
    if not prefix:
        return
    try:
        client = redis.Redis.from_url(env["AIRFLOW__CELERY__BROKER_URL"], socket_timeout=5)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass  # the broker is gone: nothing of ours is left in it


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


# ------------------------------------------------------------------ the stack
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


def airflow_environment(s: StackSettings, password_file: Path, jwt_secret: str) -> dict[str, str]:
    """The environment of every Airflow component. No ``BBX_DATABASE_URL`` and no
    ``AIRFLOW_CONN_*``: tasks and the BBX web app find ``bbx_db`` through Airflow."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "BBX_DATABASE_URL"))}
    env.update(airflow_env.environment(s.bbx_url, airflow_home=s.airflow_home, metadata=s.airflow_url,
                                       with_bbx_db=False))
    env.update({
        "AIRFLOW__CORE__PARALLELISM": str(s.parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(s.paused_at_creation),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{s.api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__API__PORT": str(s.api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{s.api_port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    })
    if s.executor == "celery":
        env.update(celery_environment(s))
    env.update(s.extra_env)
    return env


def celery_environment(s: StackSettings, broker_url: str | None = None) -> dict[str, str]:
    """CeleryExecutor settings of the stack (``docker-compose.yaml`` has the same keys)."""
    import hashlib

    prefix = "bbx-" + hashlib.sha256(str(s.state_dir.resolve()).encode()).hexdigest()[:10] + ":"
    backend = s.airflow_url.replace("postgresql://", "db+postgresql+psycopg2://", 1)
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url or f"redis://127.0.0.1:6379/{s.redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(s.worker_concurrency),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "default",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": prefix,
        # a running task's message goes back to the queue after this (Airflow's default,
        # longer than any task may run: send has a 2 h execution_timeout); a dead worker's
        # task is noticed first by Airflow (task_instance_heartbeat_timeout) and retried
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
        # a worker takes a message only when a process is free: with prefetching, a worker
        # killed -9 takes the messages it had reserved with it (unacked in Redis until the
        # visibility timeout; Airflow requeues them only after task_queued_timeout, 600 s)
        "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": '{"worker_disable_prefetch": true}',
    }


def _redis_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(state_dir: Path, say=print, port: int = 6379) -> int:
    """The broker's port: ``port`` where a Redis answers, else a ``redis-server`` started as
    a service of this stack on a free port (stopped by ``stop``)."""
    import shutil

    if _redis_answers(port):
        return port
    server = shutil.which("redis-server")
    if server is None:
        raise StackError(f"the Celery stack needs Redis as its broker: none answers on 127.0.0.1:{port} and "
                         "redis-server is not installed (apt-get install redis-server, or start one on 6379)")
    wanted = port
    port = free_port()
    pid = spawn(state_dir, "redis", [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--dir", str(state_dir)])
    _wait_for("redis-server", lambda: _redis_answers(port), 30, state_dir / "logs" / "redis.log", pid)
    say(f"redis-server started on 127.0.0.1:{port} (nothing answered on {wanted})")
    return port


def start_worker(state_dir: Path, env: dict[str, str], airflow_home: Path, queues: str, concurrency: int) -> str:
    existing = [int(n.removeprefix(WORKER_PREFIX)) for n in read_pids(state_dir) if n.startswith(WORKER_PREFIX)]
    used = [int(p.stem.removeprefix(WORKER_PREFIX)) for p in (state_dir / "logs").glob(f"{WORKER_PREFIX}*.log")
            if p.stem.removeprefix(WORKER_PREFIX).isdigit()]
    number = max([0, *existing, *used]) + 1
    name = f"{WORKER_PREFIX}{number}"
    # own hostname (several workers on one machine), no log server (every worker would
    # take port 8793; the api-server reads the task logs from the shared log folder)
    spawn(state_dir, name, [sys.executable, "-m", "airflow", "celery", "worker", "--queues", queues,
                            "--concurrency", str(concurrency), "--celery-hostname", f"{name}@%h",
                            "--skip-serve-logs"], env=env, cwd=airflow_home)
    (state_dir / f"{name}.queues").write_text(queues + "\n")
    return name


def _start_simulator(s: StackSettings, sim_dir: Path) -> tuple[str, Path]:
    from simulator.config import senders_from_tenants
    from simulator.pki import make_test_pki

    senders = [{**x, "population": {"size": s.population_size}} for x in senders_from_tenants(s.tenants_file)]
    pki = make_test_pki(sim_dir / "pki", [x["oin"] for x in senders])
    config = {"result_delay": s.result_delay, "register_delay": s.register_delay,
              "result_dialect": s.result_dialect, "senders": senders}
    (sim_dir / "simulator.json").write_text(json.dumps(config))
    ready = sim_dir / "simulator-ready.json"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "simulator", "--config", str(sim_dir / "simulator.json"),
            "--pki-dir", str(pki.folder), "--port", "0", "--ready-file", str(ready), "--log-level", "WARNING"]
    if s.today:
        argv += ["--today", s.today]
    pid = spawn(s.state_dir, "simulator", argv)
    _wait_for("the simulator", lambda: ready.exists() and ready.read_text().strip(), 60,
              s.state_dir / "logs" / "simulator.log", pid)
    return json.loads(ready.read_text())["base_url"], pki.folder


def _start_sftp(s: StackSettings, root: Path, users: dict[str, str]) -> int:
    port = free_port()
    connection_file = s.state_dir / "sftp-connection.json"
    connection_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "simulator.sftp_server", "--root", str(root), "--port", str(port),
            "--host-key-file", str(s.state_dir / "sftp-host-key"), "--connection-file", str(connection_file)]
    for name, password in users.items():
        home = "" if name == SFTP_BBX_USER else f":/{name}"
        argv += ["--user", f"{name}:{password}{home}"]
    pid = spawn(s.state_dir, "sftp", argv)
    _wait_for("the SFTP server", lambda: connection_file.exists() and connection_file.read_text().strip(), 30,
              s.state_dir / "logs" / "sftp.log", pid)
    return port


def _tenant_codes(tenants_file: Path) -> list[str]:
    from bbx.config.model import load

    return [t.code for t in load(tenants_file).tenants]


def start(s: StackSettings, *, say=print) -> Stack:
    """Start the whole stack (or reuse the one running in ``s.state_dir``)."""
    from bbx.store import db

    s.state_dir.mkdir(parents=True, exist_ok=True)
    existing = Stack.load(s.state_dir)
    if existing is not None and existing.running():
        existing.reused = True
        say(f"reusing the running stack ({s.state_dir})")
        return existing
    if read_pids(s.state_dir):
        say("a stack was left half-running: stopping it first")
        stop(s.state_dir, quiet=True)
    if not port_free(s.api_port):
        raise StackError(f"port {s.api_port} is in use: stop what holds it, or choose another "
                         "with BBX_API_PORT=NNNN (make demo BBX_API_PORT=8081)")

    sim_dir = s.state_dir / "simulator"
    sim_dir.mkdir(exist_ok=True)
    started = time.monotonic()
    simulator_url, pki_dir = _start_simulator(s, sim_dir)
    say(f"simulator (MijnOverheid + ebMS adapter) at {simulator_url}")

    sftp_root = s.state_dir / "sftp"
    passwords = {SFTP_BBX_USER: secrets.token_urlsafe(12)}
    passwords.update({code: f"{code}-demo" for code in _tenant_codes(s.tenants_file)})
    sftp_port = _start_sftp(s, sftp_root, passwords)
    say(f"SFTP server at 127.0.0.1:{sftp_port} (root {sftp_root}), one chrooted account per tenant")

    s.airflow_home.mkdir(parents=True, exist_ok=True)
    password_file = s.state_dir / "airflow-passwords.json"
    password = secrets.token_urlsafe(9)
    password_file.write_text(json.dumps({ADMIN_USER: password}) + "\n")
    password_file.chmod(0o600)
    env = airflow_environment(s, password_file, secrets.token_urlsafe(32))
    if s.executor == "celery":
        redis_port = ensure_redis(s.state_dir, say)
        env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/{s.redis_db}"
    stack = Stack(state_dir=s.state_dir, bbx_url=s.bbx_url, airflow_url=s.airflow_url,
                  airflow_home=str(s.airflow_home), api_url=f"http://127.0.0.1:{s.api_port}", password=password,
                  simulator_url=simulator_url, pki_dir=str(pki_dir), sftp_port=sftp_port, sftp_root=str(sftp_root),
                  tenant_passwords={k: v for k, v in passwords.items() if k != SFTP_BBX_USER},
                  bbx_sftp_password=passwords[SFTP_BBX_USER], env=env, executor=s.executor,
                  worker_concurrency=s.worker_concurrency)

    db.ensure_database(s.airflow_url)
    t = time.monotonic()
    run = stack.airflow_cli("db", "migrate", check=False)
    if run.returncode != 0:
        raise StackError(f"airflow db migrate failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    say(f"Airflow metadata database {s.airflow_url.split('?')[0]} migrated ({time.monotonic() - t:.0f} s)")
    setup = subprocess.run(
        [sys.executable, "-m", "bbx.cli", "airflow", "setup", "--database-url", s.bbx_url,
         "--sftp", f"127.0.0.1:{sftp_port}", "--sftp-login", SFTP_BBX_USER,
         "--berichtenbox-url", simulator_url, "--pki-dir", str(pki_dir), "--pool-slots", str(s.pool_slots)],
        env={**env, "BBX_DATABASE_URL": s.bbx_url, "BBX_SFTP_PASSWORD": passwords[SFTP_BBX_USER]},
        capture_output=True, text=True)
    if setup.returncode != 0:
        raise StackError(f"bbx airflow setup failed:\n{setup.stdout}{setup.stderr}")
    for line in setup.stdout.splitlines():
        say(f"bbx airflow setup: {line}")
    for component in AIRFLOW_COMPONENTS:
        spawn(s.state_dir, component, [sys.executable, "-m", "airflow", component], env=env,
              cwd=s.airflow_home)
    if s.executor == "celery":
        for queues in s.celery_workers:
            stack.start_worker(queues)
    stack.save()
    _wait_for("the Airflow api-server", stack.api_healthy, 180, s.state_dir / "logs" / "api-server.log",
              read_pids(s.state_dir)["api-server"])
    say(f"Airflow api-server, scheduler, dag-processor, triggerer up ({time.monotonic() - started:.0f} s "
        f"since the first service)")
    if s.executor == "celery":
        say(f"CeleryExecutor, broker {env['AIRFLOW__CELERY__BROKER_URL']}: "
            + ", ".join(f"worker on {q} ({s.worker_concurrency} processes)" for q in s.celery_workers)
            + f"; pool {settings_pool()} {s.pool_slots} slots over all workers")
    return stack


# ------------------------------------------------------------------ Airflow's REST API
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


def settings_pool() -> str:
    from bbx.delivery import config

    return config.POOL


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bbx.stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--executor", choices=["local", "celery"], default="local",
                        help="start: LocalExecutor (as make demo) or CeleryExecutor with Redis and workers")
    parser.add_argument("--workers", default="default,berichtenbox,berichtenbox",
                        help="start, celery: one worker per comma-separated queue; '+' joins queues of one "
                             "worker (default: default,berichtenbox,berichtenbox)")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--pool-slots", type=int, default=4)
    args = parser.parse_args(argv)
    state_dir = default_state_dir()
    if args.action == "start":
        from bbx import demo

        demo.prepare()  # BBX's database, migrations, content key, sample configuration (as make demo)
        s = StackSettings.default(executor=args.executor, pool_slots=args.pool_slots,
                                  worker_concurrency=args.worker_concurrency,
                                  celery_workers=tuple(w.replace("+", ",") for w in args.workers.split(",") if w))
        try:
            running = start(s, say=lambda line: print(f"    {line}", flush=True))
        except StackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"==> BBX stack ({running.executor} executor) at {running.api_url} — sign in as {ADMIN_USER} / "
              f"{running.password}; logs in {state_dir / 'logs'}; make stop stops it")
        return 0
    pids = read_pids(state_dir)
    if args.action == "status":
        if not pids:
            print(f"no stack in {state_dir}")
            return 1
        for name, pid in pids.items():
            members = _session_members(pid)
            print(f"{name:<14} session {pid:<8} {'running' if members else 'gone':<8} {len(members)} processes")
        return 0
    if not pids:
        print(f"nothing to stop (no pid files in {state_dir})")
        return 0
    print(f"==> stopping the BBX stack in {state_dir}")
    running = Stack.load(state_dir)
    stop(state_dir)
    if running is not None and "host=" in running.bbx_url:
        _stop_embedded_postgresql(running.bbx_url)
    return 0


def _stop_embedded_postgresql(url: str) -> None:
    """The embedded PostgreSQL (pgserver) outlives its processes by design; the stack's
    ``stop`` ends it too when the stack ran on it."""
    from urllib.parse import parse_qs, urlsplit

    socket_dir = parse_qs(urlsplit(url).query).get("host", [""])[0]
    data_dir = settings.DATA_DIR / "pg"
    if socket_dir and (data_dir / "postmaster.pid").exists():
        import pgserver

        pgserver.get_server(data_dir, cleanup_mode="stop").cleanup()
        print(f"    stopped the embedded PostgreSQL ({data_dir})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
