"""People and roles (issue 14): named accounts (scrypt passwords) for the pages, three
roles (operator, tenant user, auditor), API keys with an expiry for systems. Real
PostgreSQL, the real app (TestClient), the ``bbx`` command's parser."""

from __future__ import annotations

import pytest
from api_helpers import (
    PASSWORD,
    TENANT_A,
    auth,
    bsns,
    person,
    send,
    set_outcomes,
    sign_in,
    sign_in_as,
)

from bbx import cli
from bbx.store import api_keys, users


def _auditor(db, name: str = "auditor-1") -> str:
    users.add(db, username=name, password=PASSWORD, role="auditor", created_by="test")
    db.commit()
    return name


def test_passwords_are_scrypt_hashed_and_checked(configured):
    db = configured
    user = users.add(db, username="j.jansen", password=PASSWORD, role="tenant", tenant_code=TENANT_A,
                     full_name="Jan Jansen", created_by="test")
    db.commit()
    stored = db.execute("SELECT password_hash FROM bbx_users WHERE username = 'j.jansen'").fetchone()["password_hash"]
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert users.authenticate(db, "J.Jansen", PASSWORD) == user  # user names are case-insensitive
    assert users.authenticate(db, "j.jansen", PASSWORD + "x") is None
    assert users.authenticate(db, "nobody", PASSWORD) is None
    assert user.actor == "user:j.jansen"
    # a second hash of the same password differs (salted)
    assert users.hash_password(PASSWORD) != users.hash_password(PASSWORD)


@pytest.mark.parametrize("kwargs, message", [
    ({"username": "x", "password": PASSWORD, "role": "auditor"}, "not valid"),
    ({"username": "kees", "password": "short", "role": "auditor"}, "at least 12"),
    ({"username": "kees", "password": "kees-is-my-password", "role": "auditor"}, "user name"),
    ({"username": "kees", "password": PASSWORD, "role": "tenant"}, "--tenant CODE"),
    ({"username": "kees", "password": PASSWORD, "role": "tenant", "tenant_code": "nope"}, "no tenant"),
    ({"username": "kees", "password": PASSWORD, "role": "auditor", "tenant_code": TENANT_A}, "only for the role"),
    ({"username": "kees", "password": PASSWORD, "role": "admin"}, "unknown role"),
])
@pytest.mark.usefixtures("english")  # pins the English wording
def test_account_refusals_say_what_to_do(configured, kwargs, message):
    with pytest.raises(users.AccountError, match=message):
        users.add(configured, created_by="test", **kwargs)


def test_disable_and_reset_password_end_sessions(client, keys, configured):
    name = sign_in(client, keys.a)
    assert client.get("/", follow_redirects=False).status_code == 200
    assert users.disable(configured, name, actor="test")
    configured.commit()
    assert client.get("/", follow_redirects=False).status_code == 303  # the session ended
    response = client.post("/login", data={"username": name, "password": PASSWORD, "next": "/"})
    assert response.status_code == 401
    users.reset_password(configured, name, "another long password", actor="test")
    configured.commit()
    sign_in_as(client, name, "another long password", next="/")
    actions = [r["action"] for r in configured.execute(
        "SELECT action FROM audit_log WHERE action LIKE 'user.%%' ORDER BY id")]
    assert actions == ["user.added", "user.disabled", "user.password_reset"]


def test_cli_users(configured, capsys):
    assert cli.main(["users", "add", "p.de.vries", "--role", "tenant", "--tenant", TENANT_A,
                     "--full-name", "Piet de Vries"]) == 0
    password = capsys.readouterr().out.strip()
    assert len(password) >= users.MIN_PASSWORD_LENGTH
    configured.rollback()
    assert users.authenticate(configured, "p.de.vries", password).tenant_code == TENANT_A
    configured.commit()  # (authenticate notes the sign-in: the row stays locked until commit)
    assert cli.main(["users", "add", "p.de.vries", "--role", "auditor"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert cli.main(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "p.de.vries" in listing and TENANT_A in listing and password not in listing
    assert cli.main(["users", "disable", "p.de.vries"]) == 0
    assert "disabled" in capsys.readouterr().out
    configured.rollback()
    assert users.authenticate(configured, "p.de.vries", password) is None
    assert cli.main(["users", "reset-password", "p.de.vries"]) == 0
    new = capsys.readouterr().out.strip()
    configured.rollback()
    assert new != password and users.authenticate(configured, "p.de.vries", new) is not None


def test_page_actions_name_the_person(client, keys, configured):
    sign_in(client, keys.a)
    configured.rollback()
    started = configured.execute("SELECT actor FROM audit_log WHERE action = 'web_session.started'").fetchall()
    assert [r["actor"] for r in started] == ["user:tenant-gemeente-voorbeeld"]


# --------------------------------------------------------------------------- the auditor


def test_auditor_reads_outcomes_without_personal_content(client, keys, configured):
    target = bsns(1, seed=301)[0]
    sid = send(client, keys.a, message_type="WOZ2026", bsns=[target], text="Persoonlijke tekst").json()["id"]
    set_outcomes(configured, sid, {1: ("failed", "X1", f"BSN {target} unknown")})
    sign_in_as(client, _auditor(configured), next="/")
    assert "auditor" in client.get("/").text
    listing = client.get("/submissions")
    assert listing.status_code == 200 and f"/submissions/{sid}" in listing.text
    page = client.get(f"/submissions/{sid}")
    assert page.status_code == 200
    assert target not in page.text and f"******{target[-3:]}" in page.text  # masked BSN, masked reason
    assert "Persoonlijke tekst" not in page.text and "messages?format=csv" not in page.text
    assert client.get("/reports").status_code == 200
    # no sending, no BSN lookup: not by link, not by URL, not by form
    home = client.get("/").text
    assert 'href="/send"' not in home and 'href="/lookup"' not in home
    for method, path in (("GET", "/send"), ("GET", "/lookup"), ("POST", "/lookup"), ("POST", "/send")):
        response = client.request(method, path, data={"bsn": target, "connection": ""})
        assert response.status_code == 403, (method, path)
    # the web service with the page session: counts and statuses yes, per-row BSNs no
    assert client.get(f"/api/v1/submissions/{sid}").status_code == 200
    assert client.get("/api/v1/connections/voorbeeld/reports/sent").status_code == 200
    rows = client.get(f"/api/v1/submissions/{sid}/messages")
    assert rows.status_code == 403 and rows.json()["error"]["code"] == "auditor_read_only"
    assert client.get("/api/v1/connections/voorbeeld/population").status_code == 403
    assert client.get("/keys").status_code == 403  # keys are for tenant users and operators


# --------------------------------------------------------------------------- API keys


def test_expired_key_is_refused_with_a_clear_message(client, configured):
    key = api_keys.create_key(configured, tenant_code=TENANT_A, operator=False, name="old system",
                              created_by="test")
    configured.commit()
    assert client.get("/api/v1/connections", headers=auth(key.key)).status_code == 200
    configured.execute("UPDATE api_keys SET expires_at = now() - interval '1 day' WHERE prefix = %s",
                       (key.owner.prefix,))
    configured.commit()
    response = client.get("/api/v1/connections", headers=auth(key.key))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_expired"
    assert response.headers["www-authenticate"] == "Bearer"
    listed = {r["prefix"]: r for r in api_keys.list_keys(configured)}
    assert listed[key.owner.prefix]["expired"] is True


@pytest.mark.usefixtures("english")  # pins the English wording
def test_key_lifetime_default_and_bounds(configured):
    from datetime import timedelta

    key = api_keys.create_key(configured, tenant_code=TENANT_A, operator=False, name="a", created_by="test")
    row = configured.execute("SELECT expires_at - created_at AS life FROM api_keys WHERE prefix = %s",
                             (key.owner.prefix,)).fetchone()
    assert timedelta(days=364) < row["life"] <= timedelta(days=365, seconds=5)
    with pytest.raises(ValueError, match="between 1 and 730 days"):
        api_keys.create_key(configured, tenant_code=TENANT_A, operator=False, name="a", created_by="test",
                            lifetime=timedelta(days=1000))


def test_rotation_two_keys_valid_at_once(client, keys, configured):
    new = api_keys.create_key(configured, tenant_code=TENANT_A, operator=False, name="A system (new)",
                              created_by="test")
    configured.commit()
    for key in (keys.a, new.key):  # switch-over: both work
        assert client.get("/api/v1/connections", headers=auth(key)).status_code == 200
    assert api_keys.revoke(configured, keys.a_prefix, actor="test")
    configured.commit()
    assert client.get("/api/v1/connections", headers=auth(keys.a)).status_code == 401
    assert client.get("/api/v1/connections", headers=auth(new.key)).status_code == 200


def test_a_tenant_cannot_revoke_another_tenants_key(configured, keys):
    b_prefix = keys.b.split("_")[1]
    tenant_a = configured.execute("SELECT id FROM tenants WHERE code = %s", (TENANT_A,)).fetchone()["id"]
    assert not api_keys.revoke(configured, b_prefix, actor="user:x", tenant_id=tenant_a)
    assert person(keys.a)  # (the helper's person exists for the key's tenant)
