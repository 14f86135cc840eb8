"""The BBX plugin in real Airflow: only bbx/plugin.py is loaded as a plugin module,
``airflow plugins`` lists it, and a running ``airflow api-server`` serves the web
service and the pages under /bbx (with an Airflow sign-in as operator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from api_helpers import airflow_api_server, auth, bsns

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PLUGINS = PROJECT_ROOT / "plugins"


def test_only_the_plugin_module_is_loaded_from_the_plugins_folder():
    from airflow._shared.module_loading import find_path_from_directory

    python_files = [Path(p).relative_to(PLUGINS).as_posix()
                    for p in find_path_from_directory(str(PLUGINS), ".airflowignore") if p.endswith(".py")]
    assert python_files == ["bbx/plugin.py"]


def test_loading_the_plugin_does_not_import_the_web_app():
    """Every task run loads plugins: it must not pay for FastAPI and the web code."""
    code = ("import sys, importlib.util as u; s = u.spec_from_file_location('plugin', sys.argv[1]); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); "
            "print(sorted(n for n in ('fastapi', 'bbx.api.app', 'bbx.api.pages', 'pypdf') if n in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, str(PLUGINS / "bbx" / "plugin.py")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_airflow_plugins_lists_bbx():
    result = subprocess.run([sys.executable, "-m", "airflow", "plugins", "--output", "json"],
                            capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Failed to import plugin" not in result.stderr
    listing = next(line for line in result.stdout.splitlines() if line.startswith("[{"))  # after log lines
    [plugin] = json.loads(listing)
    assert plugin["name"] == "bbx" and plugin["source"] == "$PLUGINS_FOLDER/bbx/plugin.py"
    assert plugin["fastapi_apps"] == [{"app": "plugin.BbxWebApp", "url_prefix": "/bbx",
                                       "name": "BBX web service and pages"}]
    assert {v["href"] for v in plugin["external_views"]} == {
        "/bbx/send", "/bbx/lookup", "/bbx/reports", "/bbx/submissions", "/bbx/audit", "/bbx/api/v1/docs"}


@pytest.fixture
def api_server(airflow_db, configured, tmp_path):
    with airflow_api_server({
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }, tmp_path, start_timeout=120) as base:
        yield base


@pytest.mark.slow
def test_requests_to_the_api_server_reach_bbx(api_server, keys):
    base = api_server
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/bbx/api/v1/health").json() == {"status": "ok", "app": "bbx", "api_version": "1"}
        assert http.get("/bbx/api/v1/openapi.json").json()["info"]["title"] == "BBX web service"
        connections = http.get("/bbx/api/v1/connections", headers=auth(keys.a)).json()["connections"]
        assert [c["code"] for c in connections] == ["voorbeeld"]
        sent = http.post("/bbx/api/v1/connections/voorbeeld/messages", headers={**auth(keys.a), "Idempotency-Key": "srv-1"},
                         json={"message_type": "PASPRT", "bsns": bsns(2)})
        assert sent.status_code == 201, sent.text
        assert sent.headers["location"] == f"/bbx/api/v1/submissions/{sent.json()['id']}"
        assert http.get("/bbx/api/v1/connections/pf_metaal", headers=auth(keys.a)).status_code == 404

        # pages: without a sign-in they send you to BBX's sign-in page, under the mount prefix
        page = http.get("/bbx/send")
        assert page.status_code == 303 and page.headers["location"] == "/bbx/login?next=/bbx/send"
        assert http.get("/bbx/static/bbx.css").status_code == 200

        # signed in to Airflow (simple auth manager, all admins): an operator on the BBX pages
        token = http.get("/auth/token").json()["access_token"]
        http.cookies.set("_token", token)
        page = http.get("/bbx/send")
        assert page.status_code == 200, page.text[:500]
        assert "(Airflow user, operator)" in page.text and "pf_metaal/UPO2026" in page.text
        assert 'href="/bbx/static/bbx.css"' in page.text
        # and Airflow's own API lists the plugin with its UI links
        plugins = http.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}).json()["plugins"]
        [bbx] = [p for p in plugins if p["name"] == "bbx"]
        assert {v["url_route"] for v in bbx["external_views"] if v.get("url_route")} == {
            "bbx-send", "bbx-lookup", "bbx-reports", "bbx-submissions", "bbx-audit"}
