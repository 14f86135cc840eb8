"""The local BBX platform as background services: start, reuse, stop.

Used by ``make demo`` / ``make stop`` (``python -m bbx.stack``), the browser test and
``bench/bench_delivery_e2e.py``, so each starts the platform the same way:

* the MijnOverheid simulator (HTTPS, client certificates, its own test PKI), the
  tenant SFTP server and a tenant's HTTPS receiver of status callbacks
  (``simulator.callback_receiver``; certificate of the same test root, its HMAC secret the
  Airflow Variable ``bbx_demo_callback_secret``);
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

The package: ``processes`` (sessions, pid files, logs), ``stack_settings``
(``StackSettings``), ``running`` (``Stack``, ``stop``), ``prepare`` (BBX's database and
configuration), ``start``, ``workers`` (Celery: environment, Redis, workers),
``airflow_api`` (Airflow's REST API), ``cli`` (``python -m bbx.stack``). The names below
are the ones the demo, the benches and the tests use.
"""

from bbx.stack.airflow_api import AirflowApi
from bbx.stack.cli import main
from bbx.stack.processes import (
    AIRFLOW_COMPONENTS,
    SERVICES_ORDER,
    WORKER_PREFIX,
    StackError,
    _session_members,
    default_state_dir,
    free_port,
    port_free,
    read_pids,
    spawn,
)
from bbx.stack.running import ADMIN_USER, Stack, stop
from bbx.stack.stack_settings import StackSettings
from bbx.stack.start import SFTP_BBX_USER, airflow_environment, settings_pool, start
from bbx.stack.workers import (
    _forget_broker_keys,
    _redis_answers,
    celery_environment,
    ensure_redis,
    start_worker,
)

__all__ = [
    "ADMIN_USER", "AIRFLOW_COMPONENTS", "SERVICES_ORDER", "SFTP_BBX_USER", "WORKER_PREFIX", "AirflowApi",
    "Stack", "StackError", "StackSettings", "_forget_broker_keys", "_redis_answers", "_session_members",
    "airflow_environment", "celery_environment", "default_state_dir", "ensure_redis", "free_port", "main",
    "port_free", "read_pids", "settings_pool", "spawn", "start", "start_worker", "stop",
]
