"""``start``: the whole stack in order — simulator, SFTP server, a tenant's callback
receiver, Airflow's metadata database (with the receiver's secret as a Variable) and
``bbx airflow setup``, Airflow's components (and Celery workers) — or the running one
reused."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from bbx import airflow_env
from bbx.stack.processes import (
    AIRFLOW_COMPONENTS,
    StackError,
    _wait_for,
    free_port,
    port_free,
    read_pids,
    spawn,
)
from bbx.stack.running import ADMIN_USER, Stack, stop
from bbx.stack.stack_settings import StackSettings
from bbx.stack.workers import celery_environment, ensure_redis

SFTP_BBX_USER = "bbx"
CALLBACK_SECRET_VARIABLE = "bbx_demo_callback_secret"


def airflow_environment(s: StackSettings, password_file: Path, jwt_secret: str) -> dict[str, str]:
    """The environment of every Airflow component. No ``BBX_DATABASE_URL`` and no
    ``AIRFLOW_CONN_*``: tasks and the BBX web app find ``bbx_db`` through Airflow."""
    queued_timeout = int(os.environ.get("BBX_TASK_QUEUED_TIMEOUT", "600"))
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
        # a task a killed Celery worker had received but not started stays `queued` until
        # this timeout requeues it (Airflow's default, 600 s; the Celery test shortens it)
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(queued_timeout),
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": str(min(120, max(10, queued_timeout // 4))),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # one send task per pool slot (bbx.delivery.config), unless set (the bench compares)
        "BBX_SEND_SLICES": os.environ.get("BBX_SEND_SLICES") or str(s.pool_slots),
    })
    if s.executor == "celery":
        env.update(celery_environment(s))
    env.update(s.extra_env)
    return env


def _start_simulator(s: StackSettings, sim_dir: Path) -> tuple[str, Path]:
    from bbx.airflow_setup import DEMO_SANDBOX_OIN
    from simulator.config import senders_from_tenants
    from simulator.pki import make_test_pki

    # the simulator is the live adapter and the sandbox of test API keys too: it accepts the
    # sandbox's certificate on every sender's CPA
    senders = [{**x, "population": {"size": s.population_size}, "certificate_oins": [x["oin"], DEMO_SANDBOX_OIN]}
               for x in senders_from_tenants(s.tenants_file)]
    pki = make_test_pki(sim_dir / "pki", [x["oin"] for x in senders] + [DEMO_SANDBOX_OIN])
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


def _start_callback_receiver(s: StackSettings, pki_dir: Path) -> tuple[str, Path, Path]:
    """A tenant's HTTPS receiver of status callbacks, its certificate from the stack's test
    root (``pki_dir/ca.pem``) and a fresh HMAC secret (a 0600 file it checks posts with).
    Returns its URL, the record file and the secret file."""
    folder = s.state_dir / "callback-receiver"
    folder.mkdir(exist_ok=True)
    secret_file, record, ready = folder / "secret", folder / "received.jsonl", folder / "ready.json"
    secret_file.write_text(secrets.token_urlsafe(32) + "\n")
    secret_file.chmod(0o600)
    record.unlink(missing_ok=True)
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "simulator.callback_receiver", "--pki-dir", str(pki_dir),
            "--secret-file", str(secret_file), "--record", str(record), "--ready-file", str(ready)]
    pid = spawn(s.state_dir, "callback-receiver", argv)
    _wait_for("the callback receiver", lambda: ready.exists() and ready.read_text().strip(), 30,
              s.state_dir / "logs" / "callback-receiver.log", pid)
    return json.loads(ready.read_text())["url"], record, secret_file


def _callback_secret_variables(secret_file: Path) -> Path:
    """The receiver's secret as an Airflow Variable, in a 0600 file for ``bbx airflow setup
    --variables-file`` (the secret never goes into a command line or ``stack.json``; setting
    it there, beside the Connections, spares one more Airflow start-up)."""
    variables = secret_file.with_name("variables.json")
    variables.touch(0o600)
    variables.chmod(0o600)
    variables.write_text(json.dumps({CALLBACK_SECRET_VARIABLE: secret_file.read_text().strip()}))
    return variables


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
    callback_url, callback_record, callback_secret = _start_callback_receiver(s, pki_dir)
    say(f"callback receiver (a tenant's HTTPS endpoint, certificate of the test root) at {callback_url}")

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
                  worker_concurrency=s.worker_concurrency, callback_url=callback_url,
                  callback_record=str(callback_record), callback_secret_variable=CALLBACK_SECRET_VARIABLE)

    db.ensure_database(s.airflow_url)
    t = time.monotonic()
    run = stack.airflow_cli("db", "migrate", check=False)
    if run.returncode != 0:
        raise StackError(f"airflow db migrate failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    say(f"Airflow metadata database {s.airflow_url.split('?')[0]} migrated ({time.monotonic() - t:.0f} s)")
    variables = _callback_secret_variables(callback_secret)
    try:
        setup = subprocess.run(
            [sys.executable, "-m", "bbx.cli", "airflow", "setup", "--database-url", s.bbx_url,
             "--sftp", f"127.0.0.1:{sftp_port}", "--sftp-login", SFTP_BBX_USER,
             "--berichtenbox-url", simulator_url, "--sandbox-url", simulator_url, "--pki-dir", str(pki_dir),
             "--pool-slots", str(s.pool_slots), "--variables-file", str(variables)],
            env={**env, "BBX_DATABASE_URL": s.bbx_url, "BBX_SFTP_PASSWORD": passwords[SFTP_BBX_USER]},
            capture_output=True, text=True)
    finally:
        variables.unlink()
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
    # up to 10 minutes: on a loaded 2-core machine the api-server took 172 s to answer;
    # a dead one still fails at once (_wait_for watches its pid)
    _wait_for("the Airflow api-server", stack.api_healthy, 600, s.state_dir / "logs" / "api-server.log",
              read_pids(s.state_dir)["api-server"])
    say(f"Airflow api-server, scheduler, dag-processor, triggerer up ({time.monotonic() - started:.0f} s "
        f"since the first service)")
    if s.executor == "celery":
        say(f"CeleryExecutor, broker {env['AIRFLOW__CELERY__BROKER_URL']}: "
            + ", ".join(f"worker on {q} ({s.worker_concurrency} processes)" for q in s.celery_workers)
            + f"; pool {settings_pool()} {s.pool_slots} slots over all workers")
    return stack


def settings_pool() -> str:
    from bbx.delivery import config

    return config.POOL
