"""The population over the web service, its report, and the person view with its own key
scope (issue 16): the real FastAPI app, real PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from api_helpers import (
    TENANT_A,
    TENANT_B,
    auth,
    bsns,
    connection_id,
    seed_register,
    send,
    set_outcomes,
    sign_in,
)

from bbx.api import service
from bbx.store import api_keys

B = bsns(8, seed=160)


def put_population(client, key: str, lines: list[str], *, mode: str = "full", connection: str = "voorbeeld",
                   idem: str | None = None, content_type: str = "text/csv"):
    return client.post(f"/api/v1/connections/{connection}/population", params={"mode": mode},
                       content=("\r\n".join(lines) + "\r\n").encode(),
                       headers={**auth(key), "Idempotency-Key": idem or str(uuid.uuid4()),
                                "Content-Type": content_type})


@pytest.fixture
def person_keys(configured):
    a = api_keys.create_key(configured, tenant_code=TENANT_A, operator=False, name="BRP A", created_by="test",
                            scope="person_view")
    b = api_keys.create_key(configured, tenant_code=TENANT_B, operator=False, name="BRP B", created_by="test",
                            scope="person_view")
    configured.commit()
    return a.key, b.key


def test_hand_in_population_with_rejected_rows_replay_and_conflict(client, keys, configured):
    response = put_population(client, keys.a, ["bsn", *B[:5], B[0], "111111111"], idem="pop-1")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["population"] == {"version": 1, "mode": "full", "rows_handed_in": 7, "rows_rejected": 2,
                                  "added": 5, "removed": 0, "unchanged": 0, "members": 5}
    assert [(r["row"], r["value"]) for r in body["rejected_rows"]] == [(7, B[0]), (8, "111111111")]
    again = put_population(client, keys.a, ["bsn", *B[:5], B[0], "111111111"], idem="pop-1")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["submission"] == body["submission"]
    conflict = put_population(client, keys.a, [B[0]], idem="pop-1")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_key_reused"

    removals = put_population(client, keys.a, [B[0], B[1]], mode="removals")
    assert removals.json()["population"]["members"] == 3

    state = client.get("/api/v1/connections/voorbeeld/population", headers=auth(keys.a)).json()
    assert state["register_export"] == "population"
    assert [v["version"] for v in state["versions"]] == [2, 1] and state["current"]["members"] == 3
    # in the submission log, as every hand-in
    log = client.get("/api/v1/submissions", headers=auth(keys.a)).json()
    [entry] = [s for s in log["submissions"] if s["id"] == body["submission"]]
    assert (entry["kind"], entry["status"], entry["rows_handed_in"]) == ("population", "closed", 7)
    assert entry["files"][0]["role"] == "population" and len(entry["files"][0]["sha256"]) == 64
    status = client.get(f"/api/v1/submissions/{body['submission']}", headers=auth(keys.a)).json()
    assert status["reconciliation"] == "a population list: nothing of it is sent"


def test_population_refusals(client, keys, configured):
    whole = put_population(client, keys.a, ["bsn;tekst", f"{B[0]};hallo"])
    assert whole.status_code == 422 and whole.json()["error"]["code"] == "invalid_population"
    assert "one column of BSNs only" in whole.json()["error"]["message"]
    assert put_population(client, keys.a, [B[0]], content_type="application/json").status_code == 415
    assert put_population(client, keys.b, [B[0]]).status_code == 404  # another tenant's connection
    assert configured.execute("SELECT count(*) AS n FROM population_versions").fetchone()["n"] == 0


def test_population_changes_report(client, keys, configured):
    today = service.today()  # BBX's day is the Dutch one (not UTC's, around midnight)
    seed_register(configured, "voorbeeld", [(B[0], today, None), (B[1], today, None),
                                            (B[2], today - timedelta(days=400), today)])
    put_population(client, keys.a, [B[0], B[2]])
    report = client.get("/api/v1/connections/voorbeeld/reports/population-changes",
                        params={"from": str(today), "to": str(today), "with_bsns": "true"}, headers=auth(keys.a))
    assert report.status_code == 200, report.text
    data = report.json()
    assert data["in_population"] == {"signups": 1, "signoffs": 1, "signup_bsns": [B[0]], "signoff_bsns": [B[2]]}
    assert data["outside_population"] == {"signups": 1, "signoffs": 0, "signup_bsns": [B[1]], "signoff_bsns": []}
    csv = client.get("/api/v1/connections/voorbeeld/reports/population-changes",
                     params={"from": str(today), "to": str(today), "with_bsns": "true", "format": "csv"},
                     headers=auth(keys.a)).text
    assert csv.splitlines() == ["change,population,bsn", f"signup,in_population,{B[0]}",
                                f"signoff,in_population,{B[2]}", f"signup,outside_population,{B[1]}"]


def test_person_view_scope_isolation_and_no_personal_content(client, keys, configured, person_keys):
    brp_a, brp_b = person_keys
    today = service.today()  # BBX's day is the Dutch one (not UTC's, around midnight)
    seed_register(configured, "voorbeeld", [(B[0], date(2025, 1, 1), date(2025, 6, 1)), (B[0], date(2026, 1, 1), None)])
    sent = send(client, keys.a, bsns=[B[0], B[1]], message_type="WOZ2026", text="Persoonlijk geheim 123")
    assert sent.status_code == 201, sent.text
    set_outcomes(configured, sent.json()["id"], {1: ("delivered", None, None)})
    put_population(client, keys.a, [B[0]])

    view = client.post("/api/v1/connections/voorbeeld/person-view", json={"bsn": B[0], "days": 30},
                       headers=auth(brp_a))
    assert view.status_code == 200, view.text
    data = view.json()
    assert (data["subscribed"], data["in_population"], data["on"]) == (True, True, str(today))
    assert data["periods"] == [{"begin_date": "2025-01-01", "end_date": "2025-06-01"},
                               {"begin_date": "2026-01-01", "end_date": None}]
    [message] = data["messages"]
    assert (message["message_type"], message["outcome"]) == ("WOZ2026", "delivered")
    assert "geheim" not in view.text and "subject" not in message and "text" not in message
    audit = configured.execute("SELECT details FROM audit_log WHERE action = 'person.view'").fetchone()
    assert audit["details"]["bsn"] == "******" + B[0][-3:]

    # the person-view key may do nothing else, and a full key may not call the person view
    assert client.get("/api/v1/connections", headers=auth(brp_a)).json()["error"]["code"] == "key_scope"
    assert send(client, brp_a).status_code == 403
    refused = client.post("/api/v1/connections/voorbeeld/person-view", json={"bsn": B[0]}, headers=auth(keys.a))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "key_scope"
    assert client.post("/api/v1/connections/voorbeeld/person-view", json={"bsn": B[0]}).status_code == 401
    # tenant isolation: another tenant's BRP key does not see this connection
    other = client.post("/api/v1/connections/voorbeeld/person-view", json={"bsn": B[0]}, headers=auth(brp_b))
    assert other.status_code == 404
    # and the messages are those of the last N days only
    configured.execute("UPDATE messages SET created_at = now() - interval '40 days' WHERE connection_id = %s",
                       (connection_id(configured, "voorbeeld"),))
    configured.commit()
    recent = client.post("/api/v1/connections/voorbeeld/person-view", json={"bsn": B[0], "days": 30},
                         headers=auth(brp_a)).json()
    assert recent["messages"] == []
    bad = client.post("/api/v1/connections/voorbeeld/person-view", json={"bsn": "123"}, headers=auth(brp_a))
    assert bad.status_code == 422


def test_a_person_view_key_cannot_sign_in_to_the_pages(client, person_keys):
    # no key signs in to the pages (issue 14: people have accounts); pasted as a password: refused
    response = client.post("/login", data={"username": "brp", "password": person_keys[0], "next": ""},
                           follow_redirects=False)
    assert response.status_code == 401 and "bbx_session" not in response.headers.get("set-cookie", "")


def test_reports_page_splits_by_population(client, keys, configured):
    today = service.today()  # BBX's day is the Dutch one (not UTC's, around midnight)
    seed_register(configured, "voorbeeld", [(B[0], today, None), (B[1], today, None)])
    sign_in(client, keys.a)
    page = client.get("/reports", params={"from": str(today), "to": str(today)})
    assert "In the population" not in page.text  # no population yet
    put_population(client, keys.a, [B[0], B[5]])
    page = client.get("/reports", params={"start": str(today), "end": str(today)})
    assert page.status_code == 200
    assert "In the population (version 1, 2 BSNs) and outside it" in page.text
    assert "/api/v1/connections/voorbeeld/reports/population-changes?" in page.text
    row = re.search(r"<th scope=\"row\">sign-ups</th><td>(\d+)</td><td>(\d+)</td>", page.text)
    assert row and row.groups() == ("1", "1")
