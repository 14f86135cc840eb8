"""BerichtenboxHook against the running simulator over mutual TLS (no mocks)."""

import json
import time
from datetime import UTC, datetime

import pytest

from bbx.domain import globe, ids
from bbx.hooks.berichtenbox import (
    ACTION_DELIVER,
    ACTION_DELIVERY_RESULT,
    BerichtenboxConfigError,
    BerichtenboxHook,
    BerichtenboxRequestError,
    BerichtenboxUnavailable,
)
from simulator.testing import SENDER_A, simulator, simulator_pki, simulator_server  # noqa: F401


def connection_extra(sim, oin=SENDER_A, **overrides) -> dict:
    pair = sim.cert(oin)
    extra = {
        "cpa_id": sim.sender(oin).cpa_id,
        "from_party_id": f"urn:osb:oin:{oin}",
        "client_cert": str(pair.cert),
        "client_key": str(pair.key),
        "ca_cert": str(sim.pki.ca),
        "validatie_url": sim.validatie_url,
        "timeout": 10,
        "retries": 2,
    }
    extra.update(overrides)
    return extra


@pytest.fixture
def hook(simulator, monkeypatch):  # noqa: F811
    conn = {"conn_type": "berichtenbox", "host": simulator.base_url, "extra": connection_extra(simulator)}
    monkeypatch.setenv("AIRFLOW_CONN_BERICHTENBOX_TESTA", json.dumps(conn))
    return BerichtenboxHook.for_connection("testa", backoff=0.05)


def _batch(sim, bsns, number=1) -> tuple[str, bytes]:
    batch_id = ids.batch_id("testa", f"hook-{time.time_ns()}", number)
    messages = [
        globe.OutgoingMessage(
            message_id=ids.message_id("testa", batch_id, b), message_type_code="UPO2026",
            subject="Uw UPO", bsn=b, text="Geachte deelnemer,\nuw UPO staat klaar.",
        )
        for b in bsns
    ]
    header = globe.BatchHeader(batch_id=batch_id, created_at=datetime.now(UTC), supplier_id=SENDER_A)
    return batch_id, globe.build_batch(header, messages)


def _wait_for_inbound(hook, action, timeout=10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = hook.unprocessed_message_ids(action=action)
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no inbound {action} within {timeout}s")


def test_ping(hook):
    hook.ping()
    assert hook.test_connection() == (True, "ping answered")


def test_send_then_collect_the_asynchronous_result(hook, simulator):  # noqa: F811
    active = simulator.admin.sample(SENDER_A, status="active", limit=2)
    never = simulator.admin.sample(SENDER_A, status="never", limit=1)
    batch_id, payload = _batch(simulator, active + never)
    ebms_id = hook.send_message(action=ACTION_DELIVER, payload=payload, name="batch.xml", conversation_id=batch_id)
    assert ebms_id

    [inbound_id] = _wait_for_inbound(hook, ACTION_DELIVERY_RESULT)
    inbound = hook.get_message(inbound_id)
    assert inbound.action == ACTION_DELIVERY_RESULT
    assert inbound.ref_to_message_id == ebms_id
    result = globe.parse_batch_result(inbound.data_sources[0].content)
    assert result.batch_id == batch_id
    codes = sorted(m.code for m in result.messages)
    assert codes == ["NietActiefOfGeabonneerd", "Verwerkt", "Verwerkt"]

    # still listed until processed: a crash before recording never loses a result
    assert hook.unprocessed_message_ids(action=ACTION_DELIVERY_RESULT) == [inbound_id]
    hook.mark_processed(inbound_id)
    assert hook.unprocessed_message_ids(action=ACTION_DELIVERY_RESULT) == []
    assert len(simulator.admin.box(active[0])) == 1


def test_transient_http_503_is_retried(hook, simulator):  # noqa: F811
    simulator.admin.set_faults(next_http_503=2)
    hook.ping()  # third attempt succeeds (retries=2)
    assert simulator.admin.faults()["next_http_503"] == 0


def test_lasting_outage_ends_in_unavailable(hook, simulator):  # noqa: F811
    simulator.admin.set_faults(http_503_rate=1.0)
    with pytest.raises(BerichtenboxUnavailable, match="failed 3 times .*HTTP 503.*safe to retry"):
        hook.ping()


def test_soap_fault_is_not_retried(hook, simulator):  # noqa: F811
    simulator.admin.set_faults(next_http_503=0)
    with pytest.raises(BerichtenboxRequestError, match="sendMessage refused by the adapter"):
        hook.send_message(action="NoSuchAction", payload=b"<x/>", name="x.xml")


def test_quick_check_validate_abonnementen(hook, simulator):  # noqa: F811
    active = simulator.admin.sample(SENDER_A, status="active", limit=3)
    never = simulator.admin.sample(SENDER_A, status="never", limit=2)
    sender_code = simulator.sender(SENDER_A).sender_code
    answer = hook.validate_abonnementen(sender_code=sender_code, message_type_code="UPO2026", bsns=active + never)
    assert answer == {**dict.fromkeys(active, True), **dict.fromkeys(never, False)}
    with pytest.raises(ValueError, match="at most 250"):
        hook.validate_abonnementen(sender_code=sender_code, message_type_code="UPO2026", bsns=never * 126)


def test_missing_settings_are_named(simulator, monkeypatch):  # noqa: F811
    extra = connection_extra(simulator)
    del extra["client_key"], extra["cpa_id"]
    monkeypatch.setenv("AIRFLOW_CONN_BERICHTENBOX_BROKEN", json.dumps({"conn_type": "berichtenbox", "extra": extra}))
    with pytest.raises(BerichtenboxConfigError, match="'berichtenbox_broken' lacks host, cpa_id, client_key"):
        BerichtenboxHook.for_connection("broken").ping()
