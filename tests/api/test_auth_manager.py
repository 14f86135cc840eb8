"""BBX's auth manager in a real ``airflow api-server`` (issue 14): people sign in to
Airflow with their BBX account; an operator is an Airflow admin, a tenant user and an
auditor see no DAGs, only the BBX pages — and there only their own tenant, or read-only.
The stack's configured admin still signs in."""

from __future__ import annotations

import json

import httpx
import pytest
from api_helpers import PASSWORD, TENANT_A, airflow_api_server, auth, bsns

from bbx.airflow_env import AUTH_MANAGER
from bbx.store import users

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # an api-server starts slowly on a loaded machine


@pytest.fixture
def bbx_api_server(airflow_db, configured, tmp_path):
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": "stack-admin-pw"}))
    with airflow_api_server({"AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
                             "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                             "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                             "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords)},
                            tmp_path, start_timeout=600) as base:
        yield base


def _token(http, username: str, password: str) -> str:
    response = http.post("/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def test_people_sign_in_to_airflow_with_their_bbx_account(bbx_api_server, configured, keys):
    db = configured
    users.add(db, username="olga", password=PASSWORD, role="operator", created_by="test")
    users.add(db, username="tina", password=PASSWORD, role="tenant", tenant_code=TENANT_A, created_by="test")
    users.add(db, username="aud", password=PASSWORD, role="auditor", created_by="test")
    db.commit()
    with httpx.Client(base_url=bbx_api_server, timeout=60) as http:
        send_b = http.post("/bbx/api/v1/connections/pf_metaal/messages",
                           headers={**auth(keys.b), "Idempotency-Key": "am-1"},
                           json={"message_type": "UPO2026", "bsns": bsns(1, seed=41)})
        assert send_b.status_code == 201, send_b.text
        other_sid = send_b.json()["id"]

        assert http.post("/auth/token", json={"username": "tina", "password": "wrong password"}).status_code == 401

        operator = _token(http, "olga", PASSWORD)
        tenant = _token(http, "tina", PASSWORD)
        auditor = _token(http, "aud", PASSWORD)
        admin = _token(http, "admin", "stack-admin-pw")  # the stack's configured admin still works

        def dags(token):
            return http.get("/api/v2/dags", headers={"Authorization": f"Bearer {token}"}).status_code

        assert dags(operator) == 200 and dags(admin) == 200
        assert dags(tenant) == 403 and dags(auditor) == 403  # no DAGs (nor runs, nor logs) of anyone
        assert http.get("/api/v2/connections", headers={"Authorization": f"Bearer {tenant}"}).status_code == 403

        def page(token, path):
            http.cookies.clear()
            http.cookies.set("_token", token)
            return http.get(f"/bbx{path}")

        mine = page(tenant, "/send")
        assert mine.status_code == 200 and "voorbeeld/PASPRT" in mine.text and "pf_metaal" not in mine.text
        assert page(tenant, f"/submissions/{other_sid}").status_code == 404  # another tenant's, by URL
        assert page(auditor, f"/submissions/{other_sid}").status_code == 200
        assert page(auditor, "/send").status_code == 403
        assert "pf_metaal/UPO2026" in page(operator, "/send").text
        assert "pf_metaal/UPO2026" in page(admin, "/send").text

        # disabled in BBX: the Airflow token of yesterday no longer opens the BBX pages
        users.disable(db, "tina", actor="test")
        db.commit()
        assert page(tenant, "/send").status_code == 303
        assert http.post("/auth/token", json={"username": "tina", "password": PASSWORD}).status_code == 401
