"""The sender's pipeline: batch N+1 goes to the adapter as soon as batch N is acknowledged,
while N is recorded; still one sendMessage in flight, and every failure leaves each batch
either recorded or ``planned`` and unlocked for the retry. Real PostgreSQL, a recording
adapter in place of the hook (no simulator)."""

from __future__ import annotations

import threading

import pytest
from delivery_helpers import bsns, planned_submission

from bbx.delivery import send
from bbx.domain.delivery import LIVE
from bbx.hooks.berichtenbox import BerichtenboxUnavailable
from bbx.store import batches as batch_store
from bbx.store import db

WAIT = 60  # seconds a step waits for the other thread before the test fails (never reached when right)


class RecordingAdapter:
    """Stands in for ``BerichtenboxHook``: records each sendMessage, refuses two at once,
    and can be told to fail a batch or to wait for an event before answering."""

    transport = LIVE
    settings = object()

    def __init__(self) -> None:
        self.posted: list[str] = []
        self.started: dict[str, threading.Event] = {}
        self.unavailable: set[str] = set()
        self._busy = threading.Lock()

    def started_event(self, batch_id: str) -> threading.Event:
        return self.started.setdefault(batch_id, threading.Event())

    def send_message(self, *, action: str, payload: bytes, name: str, conversation_id: str) -> str:
        assert self._busy.acquire(blocking=False), "two sendMessage calls in flight"
        try:
            self.posted.append(conversation_id)
            self.started_event(conversation_id).set()
            if conversation_id in self.unavailable:
                raise BerichtenboxUnavailable("adapter down (test)")
            return f"ebms-{conversation_id}"
        finally:
            self._busy.release()


def _batches(tenants, count: int, seed: int) -> list[str]:
    numbers = bsns(count, seed=seed)
    tenants.subscribe("voorbeeld", numbers)
    # standard text only: three 1,000-message batches build in a moment
    tenants.db.execute("DELETE FROM message_type_attachments WHERE message_type_id = %s",
                       (tenants.connections["voorbeeld"].types["PASPRT"],))
    tenants.db.commit()
    _, planned = planned_submission(tenants, numbers)
    return [b for s in planned["slices"] for b in s["batch_ids"]]


def _state(tenants, batch_id: str) -> tuple[str, bool]:
    """(batch status, whether another session can take its lock now)."""
    status = batch_store.batch(tenants.db, batch_id)["status"]
    tenants.db.commit()
    with db.connect(tenants.url) as other:
        free = batch_store.lock_for_sending(other, batch_id)
        if free:
            batch_store.unlock_after_sending(other, batch_id)
        other.commit()
    return status, free


def test_the_next_batch_is_posted_while_the_one_before_is_recorded(tenants, monkeypatch):
    batch_ids = _batches(tenants, 2500, seed=301)
    assert len(batch_ids) == 3
    adapter = RecordingAdapter()
    marked: list[tuple[str, list[str]]] = []
    mark_sent = batch_store.mark_sent

    def recording_mark_sent(conn, batch_id, **kwargs):
        following = batch_ids.index(batch_id) + 1
        if following < len(batch_ids):  # the next batch is at the adapter before this one is recorded
            assert adapter.started_event(batch_ids[following]).wait(WAIT), "next batch not posted"
        marked.append((batch_id, list(adapter.posted)))
        return mark_sent(conn, batch_id, **kwargs)

    monkeypatch.setattr(batch_store, "mark_sent", recording_mark_sent)
    summary = send.send_batches(batch_ids, hooks=send.Hooks(lambda code: adapter), url=tenants.url)

    assert summary.outcomes == {"sent": 3} and summary.messages_sent == 2500
    assert adapter.posted == batch_ids  # each once, in order
    assert marked == [(batch_ids[0], batch_ids[:2]), (batch_ids[1], batch_ids), (batch_ids[2], batch_ids)]
    assert [_state(tenants, b) for b in batch_ids] == [("sent", True)] * 3


def test_an_unavailable_adapter_stops_before_the_next_batch_goes_out(tenants):
    batch_ids = _batches(tenants, 2500, seed=302)
    adapter = RecordingAdapter()
    adapter.unavailable.add(batch_ids[1])

    with pytest.raises(BerichtenboxUnavailable):
        send.send_batches(batch_ids, hooks=send.Hooks(lambda code: adapter), url=tenants.url)

    assert adapter.posted == batch_ids[:2]  # batch 3 was built, never posted
    assert [_state(tenants, b) for b in batch_ids] == [("sent", True), ("planned", True), ("planned", True)]


def test_recording_a_batch_fails_after_the_next_went_out_then_the_next_is_still_recorded(tenants, monkeypatch):
    batch_ids = _batches(tenants, 2500, seed=303)
    adapter = RecordingAdapter()
    mark_sent = batch_store.mark_sent

    def failing_mark_sent(conn, batch_id, **kwargs):
        if batch_id == batch_ids[0]:
            assert adapter.started_event(batch_ids[1]).wait(WAIT)
            raise RuntimeError("database gone (test)")
        return mark_sent(conn, batch_id, **kwargs)

    monkeypatch.setattr(batch_store, "mark_sent", failing_mark_sent)
    with pytest.raises(RuntimeError, match="database gone"):
        send.send_batches(batch_ids, hooks=send.Hooks(lambda code: adapter), url=tenants.url)

    assert adapter.posted == batch_ids[:2]
    # batch 1 is sent again on the retry (same ids: BerichtBestaatAl); batch 2's answer was kept
    assert [_state(tenants, b) for b in batch_ids] == [("planned", True), ("sent", True), ("planned", True)]
