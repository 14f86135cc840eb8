"""The audit log through the real app: who may read which entries (page, CSV, API), the
filters and paging, and that the actions that matter are in it with who and outcome."""

from __future__ import annotations

import csv
import io

from api_helpers import TENANT_A, TENANT_B, auth, bsns, send, sign_in

from bbx.api import audit_views
from bbx.api.auth import Principal
from bbx.domain import csvfile
from bbx.store import audit


def _entries(client, key, **params) -> list[dict]:
    response = client.get("/api/v1/audit", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def _handed_in(client, keys):
    assert send(client, keys.a, bsns=bsns(2, seed=61)).status_code == 201
    response = send(client, keys.b, "pf_metaal", message_type="UPO2026", bsns=bsns(2, seed=62))
    assert response.status_code == 201, response.text


def test_api_is_for_operators_and_filters_by_tenant_action_actor(client, keys, configured):
    _handed_in(client, keys)
    refused = client.get("/api/v1/audit", headers=auth(keys.a))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"

    everything = _entries(client, keys.operator)
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    received = _entries(client, keys.operator, action="submission.received", tenant=TENANT_A)
    assert received and {e["tenant"] for e in received} == {TENANT_A}
    assert received[0]["actor"] == f"api-key:{keys.a_prefix}" and received[0]["outcome"] == "ok"
    assert received[0]["connection"] == "voorbeeld" and received[0]["submission_id"]
    # an area matches its actions; the tenant was filled in from the submission
    area = _entries(client, keys.operator, action="submission", tenant=TENANT_A)
    assert {e["action"] for e in area} >= {"submission.received", "submission.accepted"}
    assert all(e["tenant"] == TENANT_A for e in area)
    assert _entries(client, keys.operator, actor=keys.a_prefix) and not _entries(client, keys.operator, actor="nobody")
    unknown = client.get("/api/v1/audit", params={"tenant": "nope"}, headers=auth(keys.operator))
    assert unknown.status_code == 404
    period = client.get("/api/v1/audit", params={"from": "2026-02-02", "to": "2026-02-01"},
                        headers=auth(keys.operator))
    assert period.status_code == 422 and period.json()["error"]["code"] == "invalid_period"
    assert _entries(client, keys.operator, **{"from": "2000-01-01", "to": "2000-01-31"}) == []


def test_api_pages_through_the_log(client, keys, configured):
    for i in range(7):
        audit.record(configured, actor=f"user:p{i}", action="test.page")
    configured.commit()
    first = client.get("/api/v1/audit", params={"action": "test.page", "limit": 3}, headers=auth(keys.operator)).json()
    second = client.get("/api/v1/audit", params={"action": "test.page", "limit": 3, "before": first["next_before"]},
                        headers=auth(keys.operator)).json()
    seen = [e["actor"] for e in first["entries"] + second["entries"]]
    assert seen == [f"user:p{i}" for i in range(6, 0, -1)]


def test_tenant_user_sees_only_their_tenant_on_the_page_and_in_the_csv(client, keys, configured):
    _handed_in(client, keys)
    audit.refused(configured, actor="user:mallory", action="config.apply", reason="=HYPERLINK(\"x\") not allowed",
                  tenant_id=audit.tenant_id_of(configured, TENANT_B))
    configured.commit()
    sign_in(client, keys.a)
    page = client.get("/audit")
    assert page.status_code == 200
    assert "submission.received" in page.text and "user:mallory" not in page.text
    assert 'name="tenant"' not in page.text  # no tenant choice for a tenant user
    assert client.get("/audit", params={"tenant": TENANT_B}).status_code == 404  # not by URL either
    export = client.get("/audit.csv")
    assert export.status_code == 200 and export.content.startswith(csvfile.BOM.encode())
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == list(audit_views.CSV_COLUMNS)
    assert rows[1:] and {r[7] for r in rows[1:]} == {TENANT_A}
    # the API is not for tenant users, with a page session either
    assert client.get("/api/v1/audit").status_code == 403


def test_operator_page_filters_and_csv_is_formula_safe(client, keys, configured):
    audit.refused(configured, actor="user:mallory", action="config.apply", reason="=HYPERLINK(\"x\") not allowed")
    audit.record(configured, actor="user:alice", action="config.apply")
    configured.commit()
    sign_in(client, keys.operator)
    page = client.get("/audit", params={"outcome": "refused"})
    assert page.status_code == 200 and "user:mallory" in page.text and "user:alice" not in page.text
    assert 'name="tenant"' in page.text
    bad = client.get("/audit", params={"since": "gisteren"})
    assert bad.status_code == 422 and "gisteren" in bad.text
    export = client.get("/audit.csv", params={"actor": "mallory"})
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    [row] = rows[1:]
    assert row[3] == "user:mallory" and row[5] == "refused" and row[6].startswith("'=")  # guarded
    assert csvfile.unguard(row[6]) == "=HYPERLINK(\"x\") not allowed"


def test_auditor_reads_every_tenant(configured):
    """The auditor role (named by the access work) reads all tenants; nobody else does."""
    auditor = Principal("user:ann", "auditor", None, None, "Ann (auditor)", "session")
    tenant = Principal("api-key:x", "tenant", audit.tenant_id_of(configured, TENANT_A), TENANT_A, "A", "api_key")
    assert audit_views.reads_all_tenants(auditor) and not audit_views.reads_all_tenants(tenant)
    assert audit_views.filters_for(configured, auditor, tenant=TENANT_B).tenant_id == audit.tenant_id_of(
        configured, TENANT_B)
    assert audit_views.filters_for(configured, tenant).tenant_id == tenant.tenant_id


def test_sign_in_and_out_are_recorded_and_a_wrong_key_is_refused(client, keys, configured):
    client.post("/login", data={"api_key": "bbx_wrong_key", "next": "/"})
    sign_in(client, keys.a)
    client.post("/logout")
    actions = [(e["action"], e["outcome"]) for e in reversed(_entries(client, keys.operator, action="web_session"))]
    assert actions == [("web_session.refused", "refused"), ("web_session.started", "ok"), ("web_session.ended", "ok")]
    refused = _entries(client, keys.operator, action="web_session.refused")[0]
    assert "bbx_wrong_key" not in str(refused)


def test_a_refused_hand_in_is_recorded_without_the_bsn(client, keys, configured):
    bad = send(client, keys.a, bsns=["123456789", *bsns(1, seed=63)])  # fails the 11-test
    assert bad.status_code == 422
    [entry] = _entries(client, keys.operator, action="submission.refused")
    assert entry["outcome"] == "refused" and entry["actor"] == f"api-key:{keys.a_prefix}"
    assert entry["tenant"] == TENANT_A and entry["connection"] == "voorbeeld"
    assert entry["details"]["channel"] == "api" and entry["details"]["problems"]
    assert "123456789" not in str(entry)


def test_a_lookup_on_the_command_line_is_recorded(configured, capsys):
    from bbx.cli import main as bbx_main

    target = bsns(1, seed=64)[0]
    assert bbx_main(["register", "lookup", "voorbeeld", target]) == 0
    capsys.readouterr()
    [row] = configured.execute("SELECT actor, details::text AS d, tenant_id FROM audit_log "
                               "WHERE action = 'bsn.lookup'").fetchall()
    assert row["actor"].startswith("cli:") and target not in row["d"] and target[-3:] in row["d"]
    assert row["tenant_id"] == audit.tenant_id_of(configured, TENANT_A)
