"""The Airflow UI itself as each role (issue 14), in headless Chromium against a real
``airflow api-server`` with BBX's auth manager: a person signs in on Airflow's own login
page with their BBX account. A tenant user's DAG views are refused by the API the UI
calls (no DAG list, no DAG of anyone), while the BBX pages show their tenant only; an
auditor sees outcomes without personal content; an operator gets the DAG list.
Screenshots (Dutch pages) go to ``test-artifacts/``."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import PASSWORD, TENANT_A, auth, bsns
from test_auth_manager import bbx_api_server  # noqa: F401 (fixture)
from test_manual_send_browser import ARTIFACTS, page  # noqa: F401 (fixture)

from bbx.store import users

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]


def _airflow_sign_in(tab, base: str, username: str) -> None:
    """Airflow's login page (the simple auth manager's form, which BBX's manager keeps)."""
    tab.context.clear_cookies()
    tab.goto(f"{base}/auth/login")
    tab.locator("form input:not([type=password])").first.fill(username)
    tab.locator("form input[type=password]").fill(PASSWORD)
    tab.locator("form button[type=submit]").click()
    tab.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)


def _dag_list_status(tab, base: str) -> int:
    """The status of the DAG list the Airflow UI asks its API for when it shows /dags."""
    with tab.expect_response(lambda r: "/api/v2/dags" in r.url and r.request.method == "GET",
                             timeout=60_000) as response:
        tab.goto(f"{base}/dags")
    return response.value.status


def test_the_airflow_ui_shows_each_role_only_what_it_may(bbx_api_server, page, configured, keys):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    base, db = bbx_api_server, configured
    for name, role, tenant in (("tina", "tenant", TENANT_A), ("aud", "auditor", None), ("olga", "operator", None)):
        users.add(db, username=name, password=PASSWORD, role=role, tenant_code=tenant, created_by="test")
    db.commit()
    mine_bsn, their_bsn = bsns(2, seed=823)
    with httpx.Client(base_url=base, timeout=60) as http:
        def send(key, connection, message_type, bsn, **extra):
            response = http.post(f"/bbx/api/v1/connections/{connection}/messages",
                                 headers={**auth(key), "Idempotency-Key": f"ui-{connection}"},
                                 json={"message_type": message_type, "bsns": [bsn], **extra})
            assert response.status_code == 201, response.text
            return response.json()["id"]

        mine = send(keys.a, "voorbeeld", "WOZ2026", mine_bsn, text="Persoonlijke tekst voor A")
        theirs = send(keys.b, "pf_metaal", "UPO2026", their_bsn)

    # --- a tenant user: Airflow's DAG views refused, the BBX pages of their tenant only
    _airflow_sign_in(page, base, "tina")
    assert _dag_list_status(page, base) == 403
    page.wait_for_load_state("networkidle")
    shown = page.locator("body").inner_text()
    assert "403" in shown  # the UI says it was refused (not an empty list that might fill later)
    page.screenshot(path=str(ARTIFACTS / "airflow-ui-tenant-dags-refused.png"), full_page=True)
    assert page.goto(f"{base}/api/v2/dags").status == 403  # the same by URL
    page.goto(f"{base}/bbx/")
    main = page.locator("main").inner_text()
    assert "voorbeeld" in main and "pf_metaal" not in main
    assert page.evaluate("document.documentElement.lang") == "nl"
    page.screenshot(path=str(ARTIFACTS / "airflow-ui-tenant-bbx-home.png"), full_page=True)
    page.goto(f"{base}/bbx/submissions")
    listing = page.locator("main").inner_text()
    assert str(mine) in listing and "pf_metaal" not in listing
    assert page.goto(f"{base}/bbx/submissions/{theirs}").status == 404  # another tenant's, by URL

    # --- an auditor: no DAGs either; outcomes without personal content
    _airflow_sign_in(page, base, "aud")
    assert _dag_list_status(page, base) == 403
    assert page.goto(f"{base}/bbx/submissions/{mine}").status == 200
    content = page.content()
    assert "Persoonlijke tekst voor A" not in content and mine_bsn not in content
    assert f"******{mine_bsn[-3:]}" in content
    page.screenshot(path=str(ARTIFACTS / "airflow-ui-auditor-submission.png"), full_page=True)
    assert page.goto(f"{base}/bbx/send").status == 403

    # --- an operator: Airflow's DAG list
    _airflow_sign_in(page, base, "olga")
    assert _dag_list_status(page, base) == 200
    page.screenshot(path=str(ARTIFACTS / "airflow-ui-operator-dags.png"), full_page=True)
