""""Retry now" of a status callback (issue 18) queues the post for the deliverer instead of
posting inside the web request: against a real HTTPS receiver that hangs, the web
service's and the page's answers come at once with the event's state ``queued``, and the
deliverer's next pass posts it with the usual record. Real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from delivery_helpers import bsns, rows_for
from fastapi.testclient import TestClient

from bbx.delivery import callbacks as deliverer
from bbx.domain import callbacks as rules
from bbx.store import api_keys
from bbx.store import callbacks as store


def test_retry_now_answers_at_once_while_the_receiver_hangs(tenants, receiver, monkeypatch):
    from bbx.api.app import create_app

    monkeypatch.setattr(rules, "MAX_ATTEMPTS", 1)  # one refused post is a failed delivery
    store.set_endpoint(tenants.db, tenants.connections["voorbeeld"].id, receiver.url, actor="test")
    owner = api_keys.create_key(tenants.db, tenant_code="gemeente-voorbeeld", operator=False, name="cb",
                                created_by="test")
    tenants.db.commit()
    tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=255)))
    receiver.status = 500
    (event_id,) = deliverer.deliver_due(url=tenants.url, now=datetime.now(UTC) + timedelta(seconds=1)).failed
    receiver.posts.clear()

    receiver.hold = threading.Event()  # from now on the receiver takes every post and never answers
    headers = {"Authorization": f"Bearer {owner.key}"}
    with TestClient(create_app(), base_url="http://testserver") as api:
        answer = api.post(f"/api/v1/connections/voorbeeld/callback/events/{event_id}/retry", headers=headers)
        assert answer.status_code == 200 and answer.json() == {"id": event_id, "result": "queued"}
        assert not receiver.arrived.acquire(blocking=False)  # nothing was posted inside the request
        (seen,) = api.get("/api/v1/connections/voorbeeld/callback/failed?retrying=true", headers=headers).json()[
            "failed"]
        assert (seen["id"], seen["state"], seen["failed_at"]) == (event_id, "queued", None)
        # asking again while it waits is harmless (still queued, audited once more)
        assert api.post(f"/api/v1/connections/voorbeeld/callback/events/{event_id}/retry",
                        headers=headers).json()["result"] == "queued"

    # the deliverer's pass (the bbx_callbacks task) is what waits for the receiver
    passing = threading.Thread(target=lambda: results.append(deliverer.deliver_due(url=tenants.url)))
    results: list = []
    passing.start()
    assert receiver.arrived.acquire(timeout=30)  # the post reached the receiver, from the deliverer
    receiver.status = 200
    receiver.hold.set()
    passing.join()
    assert results[0].delivered == 1 and len(receiver.posts) == 1
    tenants.db.rollback()
    row = tenants.db.execute("SELECT delivered_at, attempts, last_status FROM callback_outbox WHERE id = %s",
                             (event_id,)).fetchone()
    assert row["delivered_at"] is not None and (row["attempts"], row["last_status"]) == (2, 200)
    audits = tenants.db.execute("SELECT details FROM audit_log WHERE action = 'callback.retry' ORDER BY id").fetchall()
    assert [a["details"]["was_failed"] for a in audits] == [True, False]
