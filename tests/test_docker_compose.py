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
    assert services["airflow-worker"]["command"] == "celery worker"


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
