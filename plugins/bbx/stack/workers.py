"""The CeleryExecutor's parts of the stack: its environment, the Redis broker (the one that
answers, else a ``redis-server`` of the stack's own) and the ``airflow celery worker``s."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from bbx.stack.processes import WORKER_PREFIX, StackError, _wait_for, free_port, read_pids, spawn
from bbx.stack.stack_settings import StackSettings


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
