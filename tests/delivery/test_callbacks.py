"""Status callbacks (issue 18) against a real HTTPS receiver in the test process (a
threaded http.server behind TLS, its certificate from simulator.pki): registration through
the web service, events written with the change they report, signed posts, retries with
backoff while the receiver fails, failed deliveries listed. Real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from delivery_helpers import bsns, rows_for
from fastapi.testclient import TestClient

from bbx.delivery import callbacks as deliverer
from bbx.domain import callbacks as rules
from bbx.store import api_keys, db
from bbx.store import cancel as cancel_store


def _register(tenants, url: str) -> str:
    from bbx.api.app import create_app

    owner = api_keys.create_key(tenants.db, tenant_code="gemeente-voorbeeld", operator=False, name="cb",
                                created_by="test")
    tenants.db.commit()
    with TestClient(create_app(), base_url="http://testserver") as client:
        headers = {"Authorization": f"Bearer {owner.key}"}
        bad = client.put("/api/v1/connections/voorbeeld/callback", json={"url": "http://example.nl/x"},
                         headers=headers)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_callback_url"
        answer = client.put("/api/v1/connections/voorbeeld/callback", json={"url": url}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["url"] == url and answer.json()["secret"].startswith("whsec_")
        assert client.get("/api/v1/connections/voorbeeld/callback", headers=headers).json()["secret"] is None
        return answer.json()["secret"]


def _failed_via_api(tenants) -> list[dict]:
    from bbx.api.app import create_app

    owner = api_keys.create_key(tenants.db, tenant_code="gemeente-voorbeeld", operator=False, name="cb2",
                                created_by="test")
    tenants.db.commit()
    with TestClient(create_app(), base_url="http://testserver") as client:
        r = client.get("/api/v1/connections/voorbeeld/callback/failed",
                       headers={"Authorization": f"Bearer {owner.key}"})
        assert r.status_code == 200, r.text
        return r.json()["failed"]


def test_signed_events_reach_the_receiver_after_it_recovers(tenants, receiver, monkeypatch):
    monkeypatch.setattr(rules, "MESSAGES_PER_EVENT", 2)  # pages of 2: 3 messages make 2 pages
    secret = _register(tenants, receiver.url)
    sid = tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(3, seed=198)))  # accept → submission.accepted
    with db.unit(tenants.db):
        cancel_store.cancel_submission(tenants.db, sid, actor="test")  # closes → closed + 2 pages
    receiver.status = 503  # the receiver is down
    now = datetime.now(UTC)
    first = deliverer.deliver_due(url=tenants.url, now=now)
    assert (first.delivered, first.retried) == (0, 4) and len(receiver.posts) == 4
    # nothing is due before its backoff has passed
    assert deliverer.deliver_due(url=tenants.url, now=now + timedelta(seconds=10)).retried == 0
    receiver.status = 200
    receiver.posts.clear()
    later = deliverer.deliver_due(url=tenants.url,
                                  now=now + timedelta(seconds=rules.delay_after(1) + 1))
    assert later.delivered == 4 and len(receiver.posts) == 4
    events = []
    for headers, body in receiver.posts:
        assert rules.verify(secret, body, headers[rules.HEADER])  # the documented check
        assert not rules.verify("whsec_wrong", body, headers[rules.HEADER])
        assert not rules.verify(secret, body + b" ", headers[rules.HEADER])  # tampered
        event = json.loads(body)
        assert str(event["id"]) == headers["BBX-Event-Id"] and event["event"] == headers["BBX-Event"]
        events.append(event)
    assert [e["event"] for e in events] == ["submission.accepted", "submission.closed", "messages.final",
                                            "messages.final"]
    assert events[1]["counts"]["cancelled"] == 3
    finals = [m for e in events[2:] for m in e["messages"]]
    assert [m["row"] for m in finals] == [1, 2, 3] and {m["outcome"] for m in finals} == {"cancelled"}
    assert "bsn" not in json.dumps(events)  # no BSN leaves BBX in a callback
    # delivered once: a further pass posts nothing
    assert deliverer.deliver_due(url=tenants.url, now=now + timedelta(hours=1)).delivered == 0


def test_a_receiver_that_stays_down_ends_in_the_failed_list(tenants, receiver, monkeypatch):
    monkeypatch.setattr(rules, "MAX_ATTEMPTS", 3)
    _register(tenants, receiver.url)
    tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=199)))
    receiver.status = 500
    now = datetime.now(UTC)
    for attempt in range(1, 4):
        summary = deliverer.deliver_due(url=tenants.url, now=now)
        assert len(receiver.posts) == attempt
        now += timedelta(seconds=rules.delay_after(attempt) + 1)  # exponential: 30 s, 60 s, ...
    assert summary.failed and len(summary.failed) == 1
    assert deliverer.deliver_due(url=tenants.url, now=now + timedelta(days=1)).retried == 0
    (failed,) = _failed_via_api(tenants)
    assert (failed["event"], failed["attempts"], failed["last_status"]) == ("submission.accepted", 3, 500)
    # an untrusted certificate is a failed try too (never posted in clear or unverified)
    receiver.posts.clear()
    tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=200)))
    monkeypatch.delenv("BBX_CALLBACK_CA_FILE")  # public CAs only
    unverified = deliverer.deliver_due(url=tenants.url, now=now + timedelta(days=2))
    assert unverified.retried == 1 and receiver.posts == []


def test_backoff_doubles_up_to_its_cap():
    assert [rules.delay_after(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert rules.delay_after(30) == rules.MAX_DELAY_SECONDS
    assert sum(rules.delay_after(n) for n in range(1, rules.MAX_ATTEMPTS)) < 24 * 3600


def _outbox(conn) -> list[tuple[str, str]]:
    conn.rollback()
    rows = conn.execute("""SELECT event, CASE WHEN delivered_at IS NOT NULL THEN 'delivered'
                                              WHEN failed_at IS NOT NULL THEN 'failed' ELSE 'pending' END AS state
                           FROM callback_outbox ORDER BY id""").fetchall()
    return [(r["event"], r["state"]) for r in rows]


def test_the_housekeeping_purge_removes_delivered_and_failed_events_after_their_keep_period(
        tenants, receiver, monkeypatch):
    from bbx.store import retention

    monkeypatch.setattr(rules, "MAX_ATTEMPTS", 1)  # one refused post is a failed delivery
    _register(tenants, receiver.url)
    tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=201)))
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert deliverer.deliver_due(url=tenants.url, now=now).delivered == 1
    receiver.status = 500
    tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=202)))
    failed = deliverer.deliver_due(url=tenants.url, now=datetime.now(UTC) + timedelta(seconds=1))
    assert len(failed.failed) == 1
    tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=203)))  # still to be tried
    accepted = "submission.accepted"
    assert _outbox(tenants.db) == [(accepted, "delivered"), (accepted, "failed"), (accepted, "pending")]

    purge = retention.purge_callback_outbox
    assert purge(db.connect, now=now + timedelta(days=rules.KEEP_DELIVERED_DAYS - 1)) == {"delivered": 0, "failed": 0}
    assert purge(db.connect, now=now + timedelta(days=rules.KEEP_DELIVERED_DAYS, minutes=1)) == {
        "delivered": 1, "failed": 0}
    assert _outbox(tenants.db) == [(accepted, "failed"), (accepted, "pending")]
    # the failed one stays long enough for the tenant to see it
    assert [f["event"] for f in _failed_via_api(tenants)] == [accepted]
    later = now + timedelta(days=rules.KEEP_FAILED_DAYS, minutes=1)
    assert purge(db.connect, now=later) == {"delivered": 0, "failed": 1}
    assert _outbox(tenants.db) == [(accepted, "pending")]  # never removed while it is being tried
    audits = tenants.db.execute("SELECT actor, details FROM audit_log WHERE action = 'callbacks.purged' "
                                "ORDER BY id").fetchall()
    assert [(a["details"]["delivered"], a["details"]["failed"]) for a in audits] == [(0, 0), (1, 0), (0, 1)]
    assert {a["actor"] for a in audits} == {"bbx:retention"}
