"""docker-compose.yaml cannot run here (no Docker engine): check what can be checked —
it parses, and it agrees with the settings the code uses."""

from pathlib import Path

import yaml

from bbx import airflow_env

ROOT = Path(__file__).resolve().parents[1]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_compose_parses_and_has_the_airflow_3_services():
    services = _compose()["services"]
    for name in ("postgres", "redis", "airflow-init", "airflow-api-server", "airflow-scheduler",
                 "airflow-dag-processor", "airflow-triggerer", "airflow-worker"):
        assert name in services, name
    assert services["airflow-api-server"]["command"] == "api-server"
    assert services["airflow-worker"]["command"].startswith("celery worker")


def test_compose_sets_what_the_code_reads():
    env = _compose()["services"]["airflow-scheduler"]["environment"]
    local = airflow_env.environment("postgresql://postgres@127.0.0.1:5432/bbx", with_bbx_db=False)
    # every setting the project sets locally is set in production too (values differ)
    wanted = set(local) - {"AIRFLOW_HOME", "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG"}
    assert wanted <= set(env), wanted - set(env)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"].endswith("/dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"].endswith("/plugins")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith(f"/{airflow_env.AIRFLOW_DB_NAME}")
    # a deployment: bbx_db through Airflow only (settings.database_url), no development fallback
    assert env["BBX_ENV"] == "production" and "BBX_DATABASE_URL" not in env
    assert env["AIRFLOW_CONN_BBX_DB"].endswith("@postgres:5432/bbx")
    assert "BBX_CONTENT_KEYS" in env  # personal content is encrypted with keys from configuration


def test_compose_images_use_the_pinned_airflow_version():
    import airflow

    common = _compose()["x-airflow-common"]
    assert f"apache/airflow:{airflow.__version__}-python3.11" in common["build"]["dockerfile_inline"]
    init = (ROOT / "scripts" / "compose-init-db.sql").read_text()
    assert f"CREATE DATABASE {airflow_env.AIRFLOW_DB_NAME};" in init


def test_compose_celery_settings_match_the_celery_stack():
    """Queues, pool, worker concurrency and worker layout as ``make stack EXECUTOR=celery``
    (bbx.stack) and the DAGs (bbx.delivery.config) have them."""
    import shlex
    from collections import Counter

    from bbx import stack
    from bbx.delivery import config

    compose = _compose()
    services = compose["services"]
    env = services["airflow-scheduler"]["environment"]
    defaults = stack.StackSettings.default(bbx_url="postgresql://postgres@127.0.0.1:5432/bbx",
                                           state_dir=Path("/tmp/bbx-compose-check"))
    local = stack.celery_environment(defaults)
    assert set(local) <= set(env), set(local) - set(env)
    for key in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__OPERATORS__DEFAULT_QUEUE", "AIRFLOW__CELERY__WORKER_CONCURRENCY",
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT", "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG"):
        assert str(env[key]) == local[key], key
    assert env["BBX_BERICHTENBOX_QUEUE"] == config.QUEUE
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")

    # the worker services: one per queue set, replicas as the local stack's workers
    layout: Counter = Counter()
    for service in services.values():
        argv = shlex.split(str(service.get("command", "")))
        if argv[:2] == ["celery", "worker"]:
            queues = argv[argv.index("--queues") + 1]
            layout[queues] += service.get("deploy", {}).get("replicas", 1)
            assert "--concurrency" not in argv  # AIRFLOW__CELERY__WORKER_CONCURRENCY, checked above
    assert layout == Counter(defaults.celery_workers)
    assert config.QUEUE in layout and env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] in layout

    # the pool: the global cap on concurrent sends, as bbx airflow setup makes it locally
    init = services["airflow-init"]["command"]
    assert f"airflow pools set {config.POOL} {config.POOL_SLOTS_DEFAULT} " in init
    assert defaults.pool_slots == config.POOL_SLOTS_DEFAULT
