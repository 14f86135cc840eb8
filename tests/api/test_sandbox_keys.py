"""The *test* API key kind at the web service and the pages (issue 14): the key kind on the
keys page, the CLI and in the audit log; sandbox submissions stored and shown as such;
an Idempotency-Key never crosses between live and sandbox; live reports and the live
daily cap leave sandbox sends out; a test key changes nothing live. Delivery of sandbox
submissions to a real sandbox is tests/delivery/test_sandbox.py.

The hand-in itself only checks that the deployment has a sandbox Connection (it does not
reach the sandbox), so these tests give it one whose certificates are never used."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from api_helpers import TENANT_A, auth, bsns, seed_register, send, set_outcomes, sign_in

from bbx.store import api_keys


@pytest.fixture
def sandbox_connection(monkeypatch, tmp_path):
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_text("unused: the hand-in does not reach the sandbox\n")
    monkeypatch.setenv(
        "AIRFLOW_CONN_BBX_BERICHTENBOX_SANDBOX",
        json.dumps(
            {
                "conn_type": "berichtenbox",
                "host": "https://sandbox.invalid:8443",
                "extra": {
                    "client_cert": str(tmp_path / "cert.pem"),
                    "client_key": str(tmp_path / "key.pem"),
                    "ca_cert": str(tmp_path / "ca.pem"),
                },
            }
        ),
    )


@pytest.fixture
def sandbox_key(configured) -> str:
    new = api_keys.create_key(
        configured,
        tenant_code=TENANT_A,
        operator=False,
        name="A test",
        created_by="test",
        kind="test",
    )
    configured.commit()
    return new.key


def test_idempotency_key_never_crosses_between_live_and_sandbox(
    client, keys, sandbox_key, sandbox_connection, configured
):
    """The same Idempotency-Key and the same request with a live key and with a test key:
    two submissions, each replayed only to its own kind."""
    body = {"bsns": bsns(2, seed=81)}
    sandbox = send(client, sandbox_key, idem="same-key", **body)
    live = send(client, keys.a, idem="same-key", **body)
    assert sandbox.status_code == 201 and live.status_code == 201
    assert sandbox.json()["sandbox"] is True and live.json()["sandbox"] is False
    assert sandbox.json()["id"] != live.json()["id"]
    again_live, again_sandbox = (
        send(client, keys.a, idem="same-key", **body),
        send(client, sandbox_key, idem="same-key", **body),
    )
    assert (again_live.status_code, again_live.json()["id"]) == (200, live.json()["id"])
    assert (again_sandbox.status_code, again_sandbox.json()["id"]) == (200, sandbox.json()["id"])
    # the sandbox hand-in did not make the live one's BSNs "handed in earlier"
    assert live.json()["counts"].get("rejected", 0) == 0
    rows = configured.execute("SELECT id, sandbox FROM submissions ORDER BY id").fetchall()
    configured.commit()
    assert [(r["id"], r["sandbox"]) for r in rows] == [
        (sandbox.json()["id"], True),
        (live.json()["id"], False),
    ]


def test_live_reports_leave_sandbox_out_and_the_log_marks_it(
    client, keys, sandbox_key, sandbox_connection, configured
):
    people = bsns(2, seed=82)
    seed_register(configured, "voorbeeld", [(b, date(2020, 1, 1), None) for b in people])
    sandbox_id = send(client, sandbox_key, bsns=people).json()["id"]
    live_id = send(client, keys.a, bsns=people).json()["id"]
    for sid in (sandbox_id, live_id):
        set_outcomes(
            configured,
            sid,
            {1: ("delivered", "Verwerkt", None), 2: ("failed", "BijlageTeGroot", "te groot")},
        )
    sent = client.get("/api/v1/connections/voorbeeld/reports/sent", headers=auth(keys.a)).json()
    assert [(r["message_type"], r["sent"], r["delivered"]) for r in sent["message_types"]] == [
        ("PASPRT", 2, 1)
    ]
    undelivered = client.get(
        "/api/v1/connections/voorbeeld/reports/undelivered", headers=auth(keys.a)
    ).json()
    assert [r["messages"] for r in undelivered["rows"]] == [1]
    log = client.get("/api/v1/submissions", headers=auth(keys.a)).json()["submissions"]
    assert {e["id"]: e["sandbox"] for e in log} == {sandbox_id: True, live_id: False}
    csv = client.get("/api/v1/submissions?format=csv", headers=auth(keys.a)).text
    assert "sandbox" in csv.splitlines()[0]
    lookup = client.post("/api/v1/bsn-lookup", json={"bsn": people[0]}, headers=auth(keys.a)).json()
    marks = {m["submission_id"]: m["sandbox"] for c in lookup["connections"] for m in c["messages"]}
    assert marks == {sandbox_id: True, live_id: False}
    sign_in(client, keys.a)  # the pages: the submission, the log and the lookup mark it
    assert 'id="sandbox-note"' in client.get(f"/submissions/{sandbox_id}").text
    assert 'id="sandbox-note"' not in client.get(f"/submissions/{live_id}").text
    assert client.get("/submissions").text.count('class="badge sandbox"') == 1


def test_sandbox_sends_have_their_own_daily_cap(
    client, keys, sandbox_key, sandbox_connection, configured, monkeypatch
):
    """The live daily cap counts live messages only; the sandbox's own cap counts sandbox
    messages only (and refuses in the tenant's words)."""
    from bbx.domain import send_limits

    configured.execute("UPDATE connections SET daily_message_cap = 3 WHERE code = 'voorbeeld'")
    configured.commit()
    monkeypatch.setattr(send_limits, "SANDBOX_DAILY_MESSAGES", 4)
    assert (
        send(client, sandbox_key, bsns=bsns(4, seed=83)).status_code == 201
    )  # not against the live cap of 3
    assert (
        send(client, keys.a, bsns=bsns(3, seed=84)).status_code == 201
    )  # the live cap is untouched
    refused = send(client, sandbox_key, bsns=bsns(1, seed=85))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "daily_cap_reached"
    assert (
        "sandbox" in refused.json()["error"]["message"]
        and "Live keys are not affected" in refused.json()["error"]["message"]
    )
    assert send(client, keys.a, bsns=bsns(1, seed=86)).status_code == 429  # the live cap is its own


def test_a_test_key_changes_nothing_live(client, keys, sandbox_key, sandbox_connection):
    live_id = send(client, keys.a).json()["id"]
    sandbox_id = send(client, sandbox_key).json()["id"]
    refused = [
        client.put(
            "/api/v1/connections/voorbeeld/message-types/PASPRT/standard-text",
            content="Nieuwe tekst",
            headers={**auth(sandbox_key), "Content-Type": "text/plain"},
        ),
        client.post(
            "/api/v1/connections/voorbeeld/population",
            content="249566758\n",
            headers={**auth(sandbox_key), "Content-Type": "text/csv", "Idempotency-Key": "p1"},
        ),
        client.put(
            "/api/v1/connections/voorbeeld/callback",
            json={"url": "https://example.org/hook"},
            headers=auth(sandbox_key),
        ),
        client.post(f"/api/v1/submissions/{live_id}/cancel", headers=auth(sandbox_key)),
    ]
    assert [(r.status_code, r.json()["error"]["code"]) for r in refused] == [
        (403, "test_key_not_allowed")
    ] * 4
    mine = client.post(f"/api/v1/submissions/{sandbox_id}/cancel", headers=auth(sandbox_key))
    assert mine.status_code == 200, mine.text
    assert (
        client.get(f"/api/v1/submissions/{live_id}", headers=auth(sandbox_key)).json()["status"]
        == "accepted"
    )


def test_keys_page_makes_a_test_key_and_lists_its_kind(client, keys, configured):
    sign_in(client, keys.a)
    page = client.get("/keys")
    assert 'name="kind"' in page.text and 'value="test"' in page.text
    created = client.post(
        "/keys",
        data={"name": "zaaksysteem test", "days": "30", "scope": "full", "kind": "test"},
        headers={"Origin": "http://testserver"},
    )
    assert created.status_code == 201, created.text
    prefix = next(
        r["prefix"] for r in api_keys.list_keys(configured) if r["name"] == "zaaksysteem test"
    )
    listed = {r["prefix"]: r["kind"] for r in api_keys.list_keys(configured)}
    audit = configured.execute(
        "SELECT details FROM audit_log WHERE action = 'api_key.created'"
        " AND details->>'prefix' = %s",
        (prefix,),
    ).fetchone()
    configured.commit()
    assert listed[prefix] == "test" and listed[keys.a_prefix] == "live"
    assert audit["details"]["kind"] == "test"
    assert "test (sandbox)" in created.text  # the list shows the kind
    bad = client.post(
        "/keys",
        data={"name": "x", "days": "30", "scope": "full", "kind": "demo"},
        headers={"Origin": "http://testserver"},
    )
    assert bad.status_code == 422 and "unknown key kind" in bad.text


def test_cli_creates_and_lists_a_test_key(configured, database_url):
    bbx = [str(Path(sys.executable).with_name("bbx"))]
    made = subprocess.run(
        [*bbx, "api-key", "create", "--tenant", TENANT_A, "--kind", "test", "--name", "ci"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert "TEST key" in made.stderr and made.stdout.startswith("bbx_")
    listed = subprocess.run([*bbx, "api-key", "list"], capture_output=True, text=True, timeout=120)
    line = next(x for x in listed.stdout.splitlines() if x.endswith(" ci"))
    assert " test " in line
