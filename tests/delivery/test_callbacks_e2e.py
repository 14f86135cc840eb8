"""Status callbacks end to end (issue 18): the callback set in the tenant configuration
(its secret an Airflow Variable), a submission delivered through the simulator over mTLS,
every event (accepted, closed with counts, per-message final outcomes in pages) posted
to a real HTTPS receiver in the test process and verified with the documented check; a
receiver answering 500 is retried with backoff, ends as failed, shows on the connection's
callbacks page, and "retry now" there queues it for the deliverer's next pass, which
delivers it (audited). The receiver's private CA is trusted through the configuration's
``callback.ca_file``. Real PostgreSQL."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from delivery_helpers import bsns, deliver, rows_for
from fastapi.testclient import TestClient

from bbx import cli
from bbx.config.model import ConfigError, load
from bbx.delivery import callbacks as deliverer
from bbx.domain import callbacks as rules
from bbx.store import api_keys, users

SECRET = "whsec_configured-" + "k" * 32
VARIABLE = "bbx_callback_secret_voorbeeld"
PASSWORD = "correct horse battery staple"


def _config(tmp_path: Path, sample_config_path: Path, callback: dict | None) -> Path:
    doc = yaml.safe_load(sample_config_path.read_text())
    connection = doc["tenants"][0]["connections"][0]
    if callback is None:
        connection.pop("callback", None)
    else:
        connection["callback"] = callback
    for folder in ("attachments", "texts"):
        if not (tmp_path / folder).exists():
            shutil.copytree(sample_config_path.parent / folder, tmp_path / folder)
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def _problems(tmp_path, sample_config_path, callback) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(_config(tmp_path, sample_config_path, callback))
    return info.value.problems


def test_the_configuration_checks_the_callback(tmp_path, sample_config_path):
    where = "tenants[0].connections[0].callback"
    assert _problems(tmp_path, sample_config_path, {"url": "http://example.nl/x", "secret_variable": VARIABLE}) == [
        f"{where}.url: The callback URL must be an https:// address with a host name."]
    assert _problems(tmp_path, sample_config_path, {"url": "https://example.nl/x", "secret": "abc"}) == [
        f"{where}: 'secret_variable' is a required property",
        f"{where}: never put the secret in the file; give the name of the Airflow Variable that holds it as "
        "secret_variable"]
    assert _problems(tmp_path, sample_config_path, {"url": "https://example.nl/x", "secret_variable": "a b"})[0] \
        .startswith(f"{where}.secret_variable: 'a b' does not match")
    (tmp_path / "not-a-ca.pem").write_text("hello")
    assert _problems(tmp_path, sample_config_path, {"url": "https://example.nl/x", "secret_variable": VARIABLE,
                                                    "ca_file": "not-a-ca.pem"}) == [
        f"{where}.ca_file: 'not-a-ca.pem' holds no PEM certificate (-----BEGIN CERTIFICATE-----)"]
    assert _problems(tmp_path, sample_config_path, {"url": "https://example.nl/x", "secret_variable": VARIABLE,
                                                    "ca_file": "missing.pem"}) == [
        f"{where}.ca_file: cannot read 'missing.pem': No such file or directory"]


def _sign_in(client, username: str, role: str, tenant: str | None, db) -> None:
    users.add(db, username=username, password=PASSWORD, role=role, tenant_code=tenant, created_by="test")
    db.commit()
    answer = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text


def test_callbacks_from_the_configuration_reach_a_real_receiver_fail_and_are_retried_from_the_page(
        world, receiver, tmp_path, sample_config_path, monkeypatch, capsys):
    monkeypatch.setattr(rules, "MESSAGES_PER_EVENT", 2)  # 3 messages: 2 pages of final outcomes
    monkeypatch.setattr(rules, "MAX_ATTEMPTS", 3)
    monkeypatch.delenv("BBX_CALLBACK_CA_FILE")  # trusted only through the connection's own CA bundle
    shutil.copy(receiver.ca, tmp_path / "receiver-ca.pem")
    path = _config(tmp_path, sample_config_path, {"url": receiver.url, "secret_variable": VARIABLE,
                                                  "ca_file": "receiver-ca.pem"})

    # the apply refuses a callback whose secret BBX cannot find: nothing posted unsigned
    assert cli.main(["config", "apply", str(path)]) == 2
    assert f"the Airflow Variable {VARIABLE!r} with the callback secret is not set" in capsys.readouterr().err
    monkeypatch.setenv(f"AIRFLOW_VAR_{VARIABLE.upper()}", "too-short")
    assert cli.main(["config", "apply", str(path)]) == 2
    assert "use at least 32 random ones" in capsys.readouterr().err
    monkeypatch.setenv(f"AIRFLOW_VAR_{VARIABLE.upper()}", SECRET)
    assert cli.main(["config", "apply", str(path)]) == 0
    assert "1 created" in capsys.readouterr().out
    assert cli.main(["config", "apply", str(path)]) == 0
    assert "0 created, 0 updated" in capsys.readouterr().out  # idempotent
    world.db.rollback()
    stored = world.db.execute("SELECT url, secret_encrypted, secret_variable FROM callback_endpoints").fetchall()
    assert stored == [{"url": receiver.url, "secret_encrypted": None, "secret_variable": VARIABLE}]

    owner = api_keys.create_key(world.db, tenant_code="gemeente-voorbeeld", operator=False, name="cb", created_by="t")
    world.db.commit()
    from bbx.api.app import create_app

    with TestClient(create_app(), base_url="http://testserver") as api:
        headers = {"Authorization": f"Bearer {owner.key}"}
        seen = api.get("/api/v1/connections/voorbeeld/callback", headers=headers).json()
        assert (seen["url"], seen["configured"], seen["secret"]) == (receiver.url, True, None)
        # the operator's configuration owns it: the tenant cannot replace or remove it
        refused = api.put("/api/v1/connections/voorbeeld/callback", json={"url": "https://example.nl/x"},
                          headers=headers)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "callback_configured"
        assert api.delete("/api/v1/connections/voorbeeld/callback", headers=headers).status_code == 409

    # a submission through the real delivery path: 2 of 3 subscribed
    numbers = bsns(3, seed=181)
    world.subscribe("voorbeeld", numbers[:2])
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers))
    deliver(world)
    assert world.counts(sid)["delivered"] == 2

    receiver.status = 500
    now = datetime.now(UTC) + timedelta(seconds=1)
    first = deliverer.deliver_due(url=world.url, now=now)
    assert (first.delivered, first.retried, len(receiver.posts)) == (0, 4, 4)
    assert deliverer.deliver_due(url=world.url, now=now + timedelta(seconds=29)).retried == 0
    for attempt in (2, 3):  # after each backoff (30 s, then 60 s) one more try of each
        now += timedelta(seconds=rules.delay_after(attempt - 1) + 1)
        deliverer.deliver_due(url=world.url, now=now)
        assert len(receiver.posts) == 4 * attempt
    assert len(deliverer.deliver_due(url=world.url, now=now).failed) == 0
    first_posts = receiver.posts[:4]
    events = []
    for headers, body in first_posts:
        assert rules.verify(SECRET, body, headers[rules.HEADER])  # signed with the Variable's secret
        events.append(json.loads(body))
    assert [e["event"] for e in events] == ["submission.accepted", "submission.closed", "messages.final",
                                            "messages.final"]
    assert events[0]["rows_handed_in"] == 3
    assert {k: v for k, v in events[1]["counts"].items() if v} == {"delivered": 2, "not_subscribed": 1}
    finals = sorted((m["row"], m["outcome"]) for e in events[2:] for m in e["messages"])
    assert finals == [(1, "delivered"), (2, "delivered"), (3, "not_subscribed")]
    assert not any(n in json.dumps(events) for n in numbers)  # no BSN leaves BBX in a callback

    with TestClient(create_app(), base_url="http://testserver") as api:
        headers = {"Authorization": f"Bearer {owner.key}"}
        failed = api.get("/api/v1/connections/voorbeeld/callback/failed", headers=headers).json()["failed"]
        assert [(f["state"], f["attempts"], f["last_status"]) for f in failed] == [("failed", 3, 500)] * 4
        ids = sorted(f["id"] for f in failed)

        # the connection's page: the tenant's own user sees them and retries one
        _sign_in(api, "anna", "tenant", "gemeente-voorbeeld", world.db)
        page = api.get("/connections/voorbeeld/callbacks")
        assert page.status_code == 200 and all(f'id="retry-{i}"' in page.text for i in ids)
        assert "HTTP 500" in page.text and receiver.url in page.text
        receiver.status = 200
        receiver.posts.clear()
        retried = api.post(f"/connections/voorbeeld/callbacks/{ids[1]}/retry", follow_redirects=False)
        assert retried.status_code == 303 and receiver.posts == []  # queued, not posted inside the request
        queued = api.get(retried.headers["location"])
        assert "In de wachtrij: BBX verstuurt" in queued.text and f'id="retry-{ids[1]}"' not in queued.text
        assert f'id="retry-{ids[0]}"' in queued.text  # the others are still failed
        assert deliverer.deliver_due(url=world.url).delivered == 1  # the deliverer's next pass posts it
        ((headers_1, body_1),) = receiver.posts
        assert json.loads(body_1)["event"] == "submission.closed"
        assert rules.verify(SECRET, body_1, headers_1[rules.HEADER])
        assert f'id="event-{ids[1]}"' not in api.get("/connections/voorbeeld/callbacks").text  # delivered
        # the rest through the web service (the same rule)
        for event_id in (ids[0], ids[2], ids[3]):
            answer = api.post(f"/api/v1/connections/voorbeeld/callback/events/{event_id}/retry", headers=headers)
            assert answer.json() == {"id": event_id, "result": "queued"}, answer.text
        states = api.get("/api/v1/connections/voorbeeld/callback/failed?retrying=true", headers=headers).json()
        assert sorted((f["id"], f["state"]) for f in states["failed"]) == [(i, "queued") for i in (ids[0], ids[2],
                                                                                                     ids[3])]
        assert deliverer.deliver_due(url=world.url).delivered == 3
        again = api.post(f"/api/v1/connections/voorbeeld/callback/events/{ids[0]}/retry", headers=headers)
        assert again.status_code == 404 and again.json()["error"]["code"] == "callback_event_not_found"
        assert api.get("/api/v1/connections/voorbeeld/callback/failed?retrying=true",
                       headers=headers).json() == {"failed": []}
        assert len(receiver.posts) == 4

    world.db.rollback()
    audits = world.db.execute("SELECT actor, details FROM audit_log WHERE action = 'callback.retry' "
                              "ORDER BY id").fetchall()
    assert [a["details"]["event_id"] for a in audits] == [ids[1], ids[0], ids[2], ids[3]]
    assert audits[0]["actor"] == "user:anna" and all(a["details"]["was_failed"] for a in audits)

    # the configuration no longer sets it: the endpoint goes (a tenant's own one would stay)
    assert cli.main(["config", "apply", str(_config(tmp_path, sample_config_path, None))]) == 0
    world.db.rollback()
    assert world.db.execute("SELECT count(*) AS n FROM callback_endpoints").fetchone()["n"] == 0


def test_the_page_is_read_only_for_auditors_and_hidden_from_other_tenants(tenants, receiver, monkeypatch):
    from bbx.api.app import create_app
    from bbx.store import callbacks as store

    monkeypatch.setattr(rules, "MAX_ATTEMPTS", 1)
    receiver.status = 500
    connection_id = tenants.connections["voorbeeld"].id
    store.set_endpoint(tenants.db, connection_id, receiver.url, actor="test")
    tenants.db.commit()
    tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=182)))
    (event_id,) = deliverer.deliver_due(url=tenants.url,
                                        now=datetime.now(UTC) + timedelta(seconds=1)).failed
    for username, role, tenant, status in (("olga", "auditor", None, 200), ("piet", "tenant", "pensioenuitvoerder", 404),
                                           ("otto", "operator", None, 200)):
        with TestClient(create_app(), base_url="http://testserver") as client:
            _sign_in(client, username, role, tenant, tenants.db)
            page = client.get("/connections/voorbeeld/callbacks")
            assert page.status_code == status, (username, page.text)
            if role == "auditor":
                assert f"event-{event_id}" in page.text and f'id="retry-{event_id}"' not in page.text
                assert client.get("/api/v1/connections/voorbeeld/callback/failed").json()["failed"][0]["id"] \
                    == event_id  # the same list through the API, read-only
            if role == "operator":
                assert f'id="retry-{event_id}"' in page.text
                continue
            refused = client.post(f"/connections/voorbeeld/callbacks/{event_id}/retry", follow_redirects=False)
            assert refused.status_code == (403 if role == "auditor" else 404)
    assert receiver.posts and len(receiver.posts) == 1  # neither refused retry posted anything
    tenants.db.rollback()
    assert tenants.db.execute("SELECT count(*) AS n FROM audit_log WHERE action = 'callback.retry'").fetchone()["n"] == 0


def test_the_operators_command_lists_and_retries(tenants, receiver, monkeypatch, capsys):
    from bbx.store import callbacks as store

    monkeypatch.setattr(rules, "MAX_ATTEMPTS", 2)
    receiver.status = 503
    store.set_endpoint(tenants.db, tenants.connections["voorbeeld"].id, receiver.url, actor="test")
    tenants.db.commit()
    tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=183)))
    deliverer.deliver_due(url=tenants.url, now=datetime.now(UTC) + timedelta(seconds=1))
    assert cli.main(["callbacks", "failed", "voorbeeld"]) == 0
    assert capsys.readouterr().out.endswith("0 event(s) of connection voorbeeld\n")
    assert cli.main(["callbacks", "failed", "voorbeeld", "--retrying"]) == 0
    listed = capsys.readouterr().out
    assert "retrying" in listed and "submission.accepted" in listed and "HTTP 503" in listed
    event_id = int(listed.split()[0])
    assert cli.main(["callbacks", "retry", "voorbeeld", str(event_id), "--by", "ops"]) == 1  # refused again
    assert capsys.readouterr().out == f"event {event_id}: failed\n"  # that was its last attempt
    receiver.status = 200
    assert cli.main(["callbacks", "retry", "voorbeeld", str(event_id), "--by", "ops"]) == 0
    assert capsys.readouterr().out == f"event {event_id}: delivered\n"
    assert cli.main(["callbacks", "retry", "voorbeeld", str(event_id), "--by", "ops"]) == 2
    assert cli.main(["callbacks", "failed", "nope"]) == 2


def test_the_bbx_callbacks_dag_signs_with_the_variable_through_the_task_sdk(tenants, receiver, airflow_db,
                                                                             monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from bbx.store import callbacks as store

    monkeypatch.setenv(f"AIRFLOW_VAR_{VARIABLE.upper()}", SECRET)  # the task asks its own secrets chain
    store.configure_endpoint(tenants.db, tenants.connections["voorbeeld"].id, receiver.url, VARIABLE, actor="test")
    tenants.db.commit()
    sid = tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=184)))
    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags" / "bbx_callbacks.py"))
    assert bag.import_errors == {}
    run = bag.dags["bbx_callbacks"].test()
    assert run.state == "success"
    ((headers, body),) = receiver.posts
    assert rules.verify(SECRET, body, headers[rules.HEADER])
    assert json.loads(body) | {"id": None, "created_at": None} == {
        "id": None, "created_at": None, "event": "submission.accepted", "submission": sid, "rows_handed_in": 1}
