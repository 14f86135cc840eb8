"""Headless Chromium signs in as each role (issue 14) and shows what it may and may not
see: a tenant user only their tenant (not another's data by URL, form or API), their
tenant's API keys (the secret shown once); an auditor outcomes without personal content;
an operator every tenant and the People page. Screenshots go to ``test-artifacts/``.

Locators use element ids, not texts: the texts are Dutch by default (bbx.i18n)."""

from __future__ import annotations

import pytest
from api_helpers import PASSWORD, TENANT_A, TENANT_B, auth, bsns, send, set_outcomes
from fastapi.testclient import TestClient
from test_manual_send_browser import ARTIFACTS, page, server  # noqa: F401 (fixtures)

from bbx.store import users

pytestmark = pytest.mark.browser


def _sign_in(tab, base_url, username, password=PASSWORD, next_path="/"):
    tab.context.clear_cookies()
    tab.goto(f"{base_url}/login?next={next_path}")
    tab.locator("#username").fill(username)
    tab.locator("#password").fill(password)
    tab.locator("form[action$='/login'] button[type=submit]").click()
    tab.wait_for_load_state()


def _status(tab, url) -> int:
    return tab.goto(url).status


def test_each_role_sees_what_it_may(server, page, keys, configured, app):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    db = configured
    for name, role, tenant in (("tina", "tenant", TENANT_A), ("bert", "tenant", TENANT_B),
                               ("aud", "auditor", None), ("olga", "operator", None)):
        users.add(db, username=name, password=PASSWORD, role=role, tenant_code=tenant, created_by="test")
    db.commit()
    api = TestClient(app)
    mine_bsn, their_bsn = bsns(2, seed=811)
    mine = send(api, keys.a, message_type="WOZ2026", bsns=[mine_bsn], text="Persoonlijke tekst voor A").json()["id"]
    theirs = send(api, keys.b, "pf_metaal", message_type="UPO2026", bsns=[their_bsn]).json()["id"]
    set_outcomes(db, mine, {1: ("delivered", "Verwerkt", None)})

    # an API key pasted into the sign-in form: refused, with a clear word, never echoed
    _sign_in(page, server, "tina", keys.a)
    assert page.url.startswith(f"{server}/login") and page.locator("#login-error").is_visible()
    assert keys.a not in page.content()
    page.screenshot(path=str(ARTIFACTS / "roles-login-with-key-refused.png"), full_page=True)

    # --- tenant user of A: only A
    _sign_in(page, server, "tina")
    assert page.url == f"{server}/"
    main = page.locator("main").inner_text()
    assert "voorbeeld" in main and "pf_metaal" not in main
    page.screenshot(path=str(ARTIFACTS / "roles-tenant-home.png"), full_page=True)
    page.goto(f"{server}/submissions")
    listing = page.locator("main").inner_text()
    assert f"{mine}" in listing and "pf_metaal" not in listing
    assert _status(page, f"{server}/submissions/{theirs}") == 404  # B's submission by URL
    assert _status(page, f"{server}/people") == 403  # operators only
    # B's connection by form: the lookup with B's connection code is refused like an unknown one
    page.goto(f"{server}/lookup")
    page.evaluate("""code => { const s = document.querySelector('#connection');
                               const o = document.createElement('option'); o.value = code; o.textContent = code;
                               s.appendChild(o); s.value = code; }""", "pf_metaal")
    page.locator("#bsn").fill(their_bsn)
    page.locator("#lookup-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#bsn-problem").is_visible() and page.locator("#result").count() == 0
    # B's data by API with the page session: 404, as if it did not exist
    response = page.request.get(f"{server}/api/v1/submissions/{theirs}")
    assert response.status == 404
    # A's keys: create one (shown once), see it listed with expiry, revoke it
    page.goto(f"{server}/keys")
    page.locator("#name").fill("zaaksysteem test")
    page.locator("#days").fill("30")
    page.locator("#create-key button[type=submit]").click()
    page.wait_for_load_state()
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("bbx_")
    page.screenshot(path=str(ARTIFACTS / "roles-tenant-keys-new.png"), full_page=True)
    assert api.get("/api/v1/connections", headers=auth(secret)).json()["connections"][0]["code"] == "voorbeeld"
    page.goto(f"{server}/keys")
    assert secret not in page.content()  # shown once only
    table = page.locator("#keys").inner_text()
    assert "zaaksysteem test" in table and "B system" not in table  # not B's keys
    prefix = secret.split("_")[1]
    page.locator(f"form[action$='/keys/{prefix}/revoke'] button").click()
    page.wait_for_load_state()
    assert api.get("/api/v1/connections", headers=auth(secret)).status_code == 401
    b_prefix = keys.b.split("_")[1]
    revoke_b = page.request.post(f"{server}/keys/{b_prefix}/revoke", headers={"Origin": server})
    assert revoke_b.status == 404  # another tenant's key: not found, and still valid
    assert api.get("/api/v1/connections", headers=auth(keys.b)).status_code == 200

    # --- auditor: every tenant's outcomes, no personal content
    _sign_in(page, server, "aud")
    nav = page.locator("header nav:not(.languages)").inner_html()
    assert "/send" not in nav and "/lookup" not in nav and "/keys" not in nav
    page.goto(f"{server}/submissions/{mine}")
    content = page.locator("main").inner_text()
    assert mine_bsn not in content and f"******{mine_bsn[-3:]}" in content
    assert "Persoonlijke tekst" not in content
    page.screenshot(path=str(ARTIFACTS / "roles-auditor-submission.png"), full_page=True)
    assert _status(page, f"{server}/submissions/{theirs}") == 200  # every tenant, read-only
    for path in ("/send", "/lookup", "/keys", "/people"):
        assert _status(page, f"{server}{path}") == 403, path
    assert page.request.get(f"{server}/api/v1/submissions/{mine}/messages").status == 403

    # --- operator: every tenant, and the People page
    _sign_in(page, server, "olga")
    page.goto(f"{server}/send")
    assert "pf_metaal/UPO2026" in page.content() and "voorbeeld/PASPRT" in page.content()
    page.goto(f"{server}/people")
    page.locator("#username").fill("new.colleague")
    page.locator("#role").select_option("auditor")
    page.locator("#add-person button[type=submit]").click()
    page.wait_for_load_state()
    password = page.locator("#new-password").inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "roles-operator-people.png"), full_page=True)
    _sign_in(page, server, "new.colleague", password)
    assert page.url == f"{server}/"
