"""Authentication (API keys, stored hashed) and tenant isolation on every endpoint."""

from __future__ import annotations

import hashlib
import re

import pytest
from api_helpers import auth, bsns, send

from bbx import cli
from bbx.store import api_keys


def _endpoints(other_connection: str, other_submission: int) -> list[tuple[str, str, dict]]:
    """Every web-service endpoint that takes a connection or submission, aimed at another tenant's."""
    c, s = other_connection, other_submission
    return [
        ("GET", f"/api/v1/connections/{c}", {}),
        ("POST", f"/api/v1/connections/{c}/messages", {"json": {"message_type": "UPO2026", "bsns": bsns(1)}}),
        ("POST", f"/api/v1/connections/{c}/messages/preview", {"json": {"message_type": "UPO2026", "bsns": bsns(1)}}),
        ("GET", f"/api/v1/connections/{c}/reports/subscribed", {}),
        ("GET", f"/api/v1/connections/{c}/reports/register-changes", {}),
        ("GET", f"/api/v1/connections/{c}/reports/sent", {}),
        ("GET", f"/api/v1/connections/{c}/reports/undelivered", {}),
        ("GET", f"/api/v1/submissions?connection={c}", {}),
        ("GET", f"/api/v1/submissions/{s}", {}),
        ("GET", f"/api/v1/submissions/{s}/messages", {}),
        ("POST", "/api/v1/bsn-lookup", {"json": {"bsn": bsns(1)[0], "connections": [c]}}),
        ("POST", f"/api/v1/connections/{c}/population", {"content": b"bsn\n", "headers": {"Content-Type": "text/csv"}}),
        ("GET", f"/api/v1/connections/{c}/population", {}),
        ("GET", f"/api/v1/connections/{c}/reports/population-changes", {}),
        ("POST", f"/api/v1/connections/{c}/person-view", {"json": {"bsn": bsns(1)[0]}}),  # a person-view key
        ("POST", f"/api/v1/submissions/{s}/cancel", {}),
        ("PUT", f"/api/v1/connections/{c}/callback", {"json": {"url": "https://example.nl/x"}}),
        ("GET", f"/api/v1/connections/{c}/callback", {}),
        ("DELETE", f"/api/v1/connections/{c}/callback", {}),
        ("GET", f"/api/v1/connections/{c}/callback/failed", {}),
        ("POST", f"/api/v1/connections/{c}/callback/events/1/retry", {}),
        ("GET", f"/api/v1/connections/{c}/message-types/UPO2026/standard-text", {}),
        ("PUT", f"/api/v1/connections/{c}/message-types/UPO2026/standard-text",
         {"content": b"Nieuwe tekst", "headers": {"Content-Type": "text/plain; charset=utf-8"}}),
    ]


def test_isolation_list_covers_every_endpoint(app):
    """A new endpoint with a connection or submission must be added to the isolation test."""
    covered = {re.sub(r"\?.*", "", path) for _, path, _ in _endpoints("{connection}", 0)}
    covered = {p.replace("/0", "/{submission_id}").replace("/UPO2026/", "/{code}/").replace("/events/1/", "/events/{event_id}/")
               for p in covered}
    routes = {r.path for r in app.routes if getattr(r, "path", "").startswith("/api/v1/")}
    scoped = {p for p in routes if "{" in p}
    assert scoped <= covered, f"not covered by the isolation test: {sorted(scoped - covered)}"
    assert routes - scoped == {"/api/v1/connections", "/api/v1/submissions", "/api/v1/bsn-lookup",
                               "/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs", "/api/v1/redoc",
                               "/api/v1/docs-assets",
                               "/api/v1/audit"}  # tenant keys: 403 (tests/api/test_audit_log.py)


def test_every_endpoint_refuses_another_tenants_ids(client, keys, configured):
    other = send(client, keys.b, "pf_metaal", message_type="UPO2026", bsns=bsns(2, seed=3))
    assert other.status_code == 201, other.text
    other_id = other.json()["id"]
    person_view_key = api_keys.create_key(configured, tenant_code="gemeente-voorbeeld", operator=False, name="BRP",
                                          created_by="test", scope="person_view").key
    configured.commit()
    for method, path, kwargs in _endpoints("pf_metaal", other_id):
        key = person_view_key if path.endswith("/person-view") else keys.a
        kwargs = dict(kwargs)
        headers = {**auth(key), "Idempotency-Key": "iso-1", **kwargs.pop("headers", {})}
        response = client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        code = response.json()["error"]["code"]
        assert code in ("connection_not_found", "submission_not_found"), (path, code)
        # the same answer as for ids that do not exist: nothing about the other tenant leaks
        assert "pensioen" not in response.text.lower()
    # and the owner (and the operator) do see them
    for key in (keys.b, keys.operator):
        assert client.get(f"/api/v1/submissions/{other_id}", headers=auth(key)).status_code == 200
        assert client.get("/api/v1/connections/pf_metaal", headers=auth(key)).status_code == 200
    # nothing was created by the refused POST
    assert client.get("/api/v1/submissions", headers=auth(keys.operator)).json()["submissions"][0]["id"] == other_id
    assert len(client.get("/api/v1/submissions", headers=auth(keys.operator)).json()["submissions"]) == 1


def test_lists_show_only_own_tenant(client, keys):
    send(client, keys.a, bsns=bsns(2))
    send(client, keys.b, "pf_zorg", message_type="UPO2026", bsns=bsns(2, seed=5))
    mine = client.get("/api/v1/connections", headers=auth(keys.a)).json()["connections"]
    assert [c["code"] for c in mine] == ["voorbeeld"]
    assert {c["code"] for c in client.get("/api/v1/connections", headers=auth(keys.b)).json()["connections"]} == {
        "pf_metaal", "pf_zorg"}
    assert len(client.get("/api/v1/connections", headers=auth(keys.operator)).json()["connections"]) == 3
    subs_a = client.get("/api/v1/submissions", headers=auth(keys.a)).json()["submissions"]
    assert [s["connection"] for s in subs_a] == ["voorbeeld"]
    assert len(client.get("/api/v1/submissions", headers=auth(keys.operator)).json()["submissions"]) == 2


def test_bsn_lookup_without_connections_searches_only_own(client, keys):
    shared = bsns(1, seed=11)
    send(client, keys.a, bsns=shared)
    send(client, keys.b, "pf_metaal", message_type="UPO2026", bsns=shared)
    result = client.post("/api/v1/bsn-lookup", json={"bsn": shared[0]}, headers=auth(keys.a)).json()
    assert [c["connection"] for c in result["connections"]] == ["voorbeeld"]
    assert len(result["connections"][0]["messages"]) == 1
    everything = client.post("/api/v1/bsn-lookup", json={"bsn": shared[0]}, headers=auth(keys.operator)).json()
    assert sum(len(c["messages"]) for c in everything["connections"]) == 2


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/connections"),
    ("GET", "/api/v1/connections/voorbeeld"),
    ("POST", "/api/v1/connections/voorbeeld/messages"),
    ("GET", "/api/v1/submissions"),
    ("GET", "/api/v1/submissions/1"),
    ("GET", "/api/v1/submissions/1/messages"),
    ("POST", "/api/v1/bsn-lookup"),
    ("GET", "/api/v1/connections/voorbeeld/reports/sent"),
])
def test_no_key_is_refused(client, keys, method, path):
    response = client.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert "Authorization: Bearer" in response.json()["error"]["message"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_revoked_and_malformed_keys(client, keys, configured):
    for headers in ({"Authorization": "Bearer bbx_nonsense_x"}, {"Authorization": "Basic dXNlcjpwdw=="},
                    {"X-API-Key": keys.a[:-2] + "zz"}):
        response = client.get("/api/v1/connections", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/api/v1/connections", headers={"X-API-Key": keys.a}).status_code == 200
    assert api_keys.revoke(configured, keys.a_prefix, actor="test")
    configured.commit()
    response = client.get("/api/v1/connections", headers=auth(keys.a))
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


def test_keys_are_stored_hashed(configured, keys):
    rows = configured.execute("SELECT prefix, key_sha256, role, tenant_id FROM api_keys ORDER BY id").fetchall()
    assert [r["role"] for r in rows] == ["tenant", "tenant", "operator"]
    assert rows[0]["key_sha256"] == hashlib.sha256(keys.a.encode()).hexdigest()
    dump = str(configured.execute("SELECT * FROM api_keys").fetchall())
    for key in (keys.a, keys.b, keys.operator):
        # the secret is everything after bbx_<prefix>_ (token_urlsafe: it may hold "_" itself)
        secret = key.split("_", 2)[2]
        assert len(secret) >= 43 and key not in dump and secret not in dump
    assert keys.a.startswith(f"bbx_{rows[0]['prefix']}_") and len(keys.a) > 40


def test_cli_creates_lists_and_revokes_keys(client, configured, capsys):
    assert cli.main(["api-key", "create", "--tenant", "gemeente-voorbeeld", "--name", "zaaksysteem"]) == 0
    key = capsys.readouterr().out.strip()
    assert client.get("/api/v1/connections", headers=auth(key)).json()["connections"][0]["code"] == "voorbeeld"
    assert cli.main(["api-key", "create", "--operator"]) == 0
    op_key = capsys.readouterr().out.strip()
    assert len(client.get("/api/v1/connections", headers=auth(op_key)).json()["connections"]) == 3
    assert cli.main(["api-key", "create", "--tenant", "nope"]) == 2
    assert "no tenant with code 'nope'" in capsys.readouterr().err
    assert cli.main(["api-key", "list"]) == 0
    listing = capsys.readouterr().out
    assert "zaaksysteem" in listing and key not in listing
    prefix = key.split("_")[1]
    assert cli.main(["api-key", "revoke", prefix]) == 0
    assert client.get("/api/v1/connections", headers=auth(key)).status_code == 401
    with pytest.raises(SystemExit):
        cli.main(["api-key", "create", "--tenant", "gemeente-voorbeeld", "--operator"])
