"""``bbx airflow setup`` registers BBX's Connections and pool in Airflow's metadata database
(a real one, migrated), idempotently; BBX then finds ``bbx_db`` there through Airflow —
also in a deployment (``BBX_ENV=production``) without any environment variable for it."""

import os
import subprocess
import sys

from bbx import settings
from bbx.config.model import load
from bbx.store import administration

FERNET_KEY = "kEvhVYWq1M6bIrzRmKXz_tT6WwnxoQb3PPNNVbEuZ84="  # this test's own; Airflow encrypts passwords with it


def _env(**changes) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("BBX_DATABASE_URL", "AIRFLOW_CONN_BBX_DB")}
    env["AIRFLOW__CORE__FERNET_KEY"] = FERNET_KEY
    env.update(changes)
    return env


def _setup(database_url: str, pki_dir, *extra: str) -> subprocess.CompletedProcess:
    env = _env(BBX_SFTP_PASSWORD="geheim")
    return subprocess.run(
        [sys.executable, "-m", "bbx.cli", "airflow", "setup", "--database-url", database_url,
         "--sftp", "127.0.0.1:2222", "--berichtenbox-url", "https://adapter.test:8443", "--pki-dir", str(pki_dir),
         *extra], env=env, capture_output=True, text=True, timeout=300)


def _python(code: str, **env) -> list[str]:
    """Runs ``code`` in a fresh interpreter (Airflow's own lookup, no cached state); its output lines."""
    done = subprocess.run([sys.executable, "-c", code], env=_env(**env), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def test_setup_registers_connections_and_pool_idempotently(airflow_db, db, sample_config_path, tmp_path):
    administration.apply_config(db, load(sample_config_path), actor="test")
    db.commit()
    url = os.environ["BBX_DATABASE_URL"]

    first = _setup(url, tmp_path / "pki")
    assert first.returncode == 0, first.stderr
    assert "connection bbx_db: created (postgres)" in first.stdout
    assert "connection berichtenbox_voorbeeld: created (berichtenbox)" in first.stdout
    assert "pool berichtenbox: 4 slots (created)" in first.stdout
    second = _setup(url, tmp_path / "pki")
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout and "updated" not in second.stdout
    assert second.stdout.count("unchanged") == 6  # bbx_db, bbx_sftp, 3 connections, the pool
    variables = tmp_path / "variables.json"  # a secret for the tasks, kept off the command line
    variables.write_text('{"bbx_test_secret": "s3cr3t-value"}')
    third = _setup(url, tmp_path / "pki", "--pool-slots", "6", "--variables-file", str(variables))
    assert "pool berichtenbox: 6 slots (updated)" in third.stdout
    assert "variable bbx_test_secret: set" in third.stdout and "s3cr3t-value" not in third.stdout + third.stderr

    # one fresh interpreter, as a deployment runs: without BBX_DATABASE_URL / AIRFLOW_CONN_BBX_DB
    # (``_env``) BBX finds bbx_db in the metadata DB; the other Connections read the Airflow way
    check = (
        "from airflow.models.connection import Connection as C\n"
        "from bbx import settings\n"
        "c = C.get_connection_from_secrets('berichtenbox_voorbeeld'); s = C.get_connection_from_secrets('bbx_sftp')\n"
        "found = settings.database_url()\n"  # the lines after Airflow's log lines, together
        "print(c.conn_type, c.host, c.extra_dejson['from_party_id'], c.extra_dejson['client_cert'].endswith('.pem'))\n"
        "print(s.password, s.port)\n"
        "print(found)\n"
        "from airflow.models import Variable; print(Variable.get('bbx_test_secret'))\n")
    assert _python(check, BBX_ENV="production")[-4:] == [
        "berichtenbox https://adapter.test:8443 urn:osb:oin:00000001001234567000 True",
        "geheim 2222",  # the password from the environment, not the command line
        settings._normalise(url),
        "s3cr3t-value"]


def test_setup_registers_the_sandbox_for_test_keys(airflow_db, db, sample_config_path, tmp_path):
    """``--sandbox-url``: the deployment's sandbox Connection, with one certificate (checked
    like the others) and no CPA or party of its own (each connection's are used)."""
    administration.apply_config(db, load(sample_config_path), actor="test")
    db.commit()
    done = _setup(os.environ["BBX_DATABASE_URL"], tmp_path / "pki", "--sandbox-url", "https://sandbox.test:9443")
    assert done.returncode == 0, done.stderr
    assert "connection bbx_berichtenbox_sandbox: created (berichtenbox)" in done.stdout
    check = (  # as the hook reads it for a connection (the api-server and workers find it the Airflow way)
        "from airflow.models.connection import Connection as C\n"
        "from bbx.hooks.berichtenbox import AdapterSettings, BerichtenboxHook as H\n"
        "h = H.for_sandbox(cpa_id='cpa-gemeente-voorbeeld-bb', oin='00000001001234567000')\n"
        "s = AdapterSettings.from_connection(h.berichtenbox_conn_id, C.get_connection_from_secrets(h.berichtenbox_conn_id),"
        " h.identity)\n"
        "print(h.transport, s.base_url, s.cpa_id, s.from_party_id, s.client_cert.endswith('.pem'))\n")
    assert _python(check)[-1] == ("sandbox https://sandbox.test:9443 cpa-gemeente-voorbeeld-bb "
                                  "urn:osb:oin:00000001001234567000 True")
