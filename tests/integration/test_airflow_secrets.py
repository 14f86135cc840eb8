"""Content keys from where operators keep secrets (issue 19): Airflow's secrets chain with
a real backend configured (LocalFilesystemBackend reading a JSON file), an
``AIRFLOW_VAR_*`` variable, and the order of precedence. Each case runs BBX in a fresh
process, since Airflow reads its secrets configuration once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from bbx import airflow_secrets

pytestmark = pytest.mark.slow  # a fresh Python with Airflow per case

SCRIPT = """
from bbx import crypto
try:
    token = crypto.encrypt(b"geheim")
except crypto.MissingKeyError as exc:
    print("MISSING", exc)
else:
    print(crypto.key_source())
    print(crypto.key_count())
    print(token.decode())
"""

NEW, OLD = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _run(tmp_path, variables: dict | None = None, **env) -> list[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("BBX_KEY_FILE", "BBX_CONTENT_KEYS") and not k.startswith("AIRFLOW_VAR_")}
    base["BBX_DATA_DIR"] = str(tmp_path / "data")  # no development key file there
    if variables is not None:
        path = tmp_path / "variables.json"
        path.write_text(json.dumps(variables))
        base["AIRFLOW__SECRETS__BACKEND"] = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
        base["AIRFLOW__SECRETS__BACKEND_KWARGS"] = json.dumps({"variables_file_path": str(path)})
    done = subprocess.run([sys.executable, "-c", SCRIPT], env={**base, **env}, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-3:]


def test_keys_from_a_configured_secrets_backend(tmp_path):
    source, count, token = _run(tmp_path, {airflow_secrets.CONTENT_KEYS_VARIABLE: f"{NEW},{OLD}"},
                                BBX_ENV="production")
    assert source == "Airflow Variable bbx_content_keys" and count == "2"
    assert Fernet(NEW.encode()).decrypt(token.encode()) == b"geheim"  # the newest key encrypts


def test_keys_from_an_airflow_var_environment_variable(tmp_path):
    source, count, token = _run(tmp_path, BBX_ENV="production", AIRFLOW_VAR_BBX_CONTENT_KEYS=NEW)
    assert source == "Airflow Variable bbx_content_keys" and count == "1"
    assert Fernet(NEW.encode()).decrypt(token.encode()) == b"geheim"


def test_precedence_environment_then_key_file_then_airflow(tmp_path):
    variables = {airflow_secrets.CONTENT_KEYS_VARIABLE: NEW}
    source, _, token = _run(tmp_path, variables, BBX_ENV="production", BBX_CONTENT_KEYS=OLD)
    assert source == "BBX_CONTENT_KEYS" and Fernet(OLD.encode()).decrypt(token.encode()) == b"geheim"
    key_file = tmp_path / "mounted.key"
    key_file.write_text(OLD + "\n")
    source, _, token = _run(tmp_path, variables, BBX_ENV="production", BBX_KEY_FILE=str(key_file))
    assert source == str(key_file) and Fernet(OLD.encode()).decrypt(token.encode()) == b"geheim"


@pytest.mark.parametrize("variables", [None, {"something_else": "x"}])
def test_a_deployment_without_keys_stops_and_says_where_to_put_them(tmp_path, variables):
    (tmp_path / "data" / "keys").mkdir(parents=True)
    (tmp_path / "data" / "keys" / "bbx-content.key").write_text(NEW)  # a development key: not used
    (line,) = _run(tmp_path, variables, BBX_ENV="production")[-1:]
    assert line.startswith("MISSING") and "bbx_content_keys" in line and "BBX_CONTENT_KEYS" in line


def test_development_still_uses_the_key_file(tmp_path):
    (tmp_path / "data" / "keys").mkdir(parents=True)
    (tmp_path / "data" / "keys" / "bbx-content.key").write_text(NEW)
    source, _, token = _run(tmp_path)
    assert source.endswith("bbx-content.key") and Fernet(NEW.encode()).decrypt(token.encode()) == b"geheim"
