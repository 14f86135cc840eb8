"""The standard-text versions page (issue 18): operators see every version and roll back
(audited, POST from the same origin only); auditors and tenant users read, and a tenant
user sees only their own tenant's message types. Real app, real PostgreSQL."""

from __future__ import annotations

from api_helpers import PASSWORD, auth, sign_in, sign_in_as

from bbx.store import db as store_db
from bbx.store import users

API = "/api/v1/connections/voorbeeld/message-types/PASPRT/standard-text"
PAGE = "/standard-texts/voorbeeld/PASPRT"
UPLOADED = "Geachte burger, uw paspoort verloopt binnenkort (versie twee)."


def _upload(client, key: str, text: str = UPLOADED) -> None:
    response = client.put(API, content=text.encode(), headers={**auth(key), "Content-Type": "text/plain"})
    assert response.status_code == 200, response.text


def _current(client, key: str) -> dict:
    return client.get(API, headers=auth(key)).json()


def _sign_in_auditor(client) -> None:
    with store_db.transaction() as conn:
        if users.get(conn, "auditor-all") is None:
            users.add(conn, username="auditor-all", password=PASSWORD, role="auditor", full_name="Test auditor",
                      created_by="test")
    sign_in_as(client, "auditor-all", next="/standard-texts")


def test_an_operator_sees_every_version_and_rolls_back_with_an_audit_entry(client, keys, configured):
    _upload(client, keys.a)
    sign_in(client, keys.operator)
    index = client.get("/standard-texts")
    assert index.status_code == 200
    assert 'href="/standard-texts/voorbeeld/PASPRT"' in index.text and "v2 (api)" in index.text
    assert "pf_metaal" in index.text  # an operator sees every tenant's types

    page = client.get(PAGE).text
    versions = _current(client, keys.a)["versions"]
    assert 'id="v2"' in page and 'id="v1"' in page
    assert UPLOADED in page and versions[1]["text"] in page  # both texts shown
    assert versions[0]["sha256"] in page and f"api-key:{keys.a_prefix}" in page
    assert "Make version 1 current again" in page and "Make version 2 current again" not in page  # 2 is current

    response = client.post(f"{PAGE}/rollback", data={"version": "1"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGE}?rolled_back=1&version=3"
    after = client.get(response.headers["location"]).text
    assert "Version 3 is current now, with the text of version 1." in after
    current = _current(client, keys.a)
    assert current["current"] == 3 and current["versions"][0]["rolled_back_from"] == 1
    assert current["versions"][0]["text"] == versions[1]["text"]
    assert current["versions"][0]["actor"] == "user:operator-all" and current["versions"][0]["source"] == "rollback"
    configured.rollback()
    entry = configured.execute("SELECT actor, details FROM audit_log WHERE action = 'standard_text.rolled_back'"
                               ).fetchone()
    assert entry["actor"] == "user:operator-all"
    assert entry["details"] == {"message_type": "PASPRT", "version": 3, "source": "rollback",
                                "sha256": versions[1]["sha256"], "rolled_back_from": 1}


def test_a_rollback_from_another_site_or_of_an_unknown_version_changes_nothing(client, keys, configured):
    _upload(client, keys.a)
    sign_in(client, keys.operator)
    foreign = client.post(f"{PAGE}/rollback", data={"version": "1"}, headers={"Origin": "https://evil.example"},
                          follow_redirects=False)
    assert foreign.status_code == 403
    unknown = client.post(f"{PAGE}/rollback", data={"version": "9"}, follow_redirects=False)
    assert unknown.status_code == 404 and "has no version 9" in unknown.text
    garbage = client.post(f"{PAGE}/rollback", data={"version": "one"}, follow_redirects=False)
    assert garbage.status_code == 404
    assert client.post("/standard-texts/voorbeeld/NOPE/rollback", data={"version": "1"}).status_code == 404
    assert _current(client, keys.a)["current"] == 2


def test_a_tenant_user_reads_their_own_versions_only_and_cannot_roll_back(client, keys, configured):
    _upload(client, keys.a)
    sign_in(client, keys.a)
    index = client.get("/standard-texts").text
    assert "PASPRT" in index and "pf_metaal" not in index
    page = client.get(PAGE)
    assert page.status_code == 200 and UPLOADED in page.text
    assert "current again" not in page.text and "/rollback" not in page.text
    refused = client.post(f"{PAGE}/rollback", data={"version": "1"}, follow_redirects=False)
    assert refused.status_code == 403 and "Only operators" in refused.text
    other = client.get("/standard-texts/pf_metaal/UPO2026")
    assert other.status_code == 404 and "pensioen" not in other.text.lower()  # like a connection that does not exist
    assert _current(client, keys.a)["current"] == 2


def test_an_auditor_reads_every_tenants_versions_without_a_rollback(client, keys, configured):
    _upload(client, keys.a)
    _sign_in_auditor(client)
    assert "pf_metaal" in client.get("/standard-texts").text
    page = client.get(PAGE)
    assert page.status_code == 200 and UPLOADED in page.text and "/rollback" not in page.text
    assert client.post(f"{PAGE}/rollback", data={"version": "1"}, follow_redirects=False).status_code == 403
    assert _current(client, keys.a)["current"] == 2


def test_signed_out_the_page_asks_to_sign_in(client, keys):
    response = client.get(PAGE, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
