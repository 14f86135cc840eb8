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
    ok, message = hook.test_connection()
    assert ok and message.startswith("certificates valid (expiry, OIN, chain, key); ping answered"), message


def _hook_with(monkeypatch, sim, name: str, **extra) -> BerichtenboxHook:
    conn = {"conn_type": "berichtenbox", "host": sim.base_url, "extra": connection_extra(sim, **extra)}
    monkeypatch.setenv(f"AIRFLOW_CONN_BERICHTENBOX_{name.upper()}", json.dumps(conn))
    return BerichtenboxHook.for_connection(name, backoff=0.05)


def test_expired_certificate_is_refused_by_test_connection_and_at_start_up(simulator, monkeypatch, tmp_path):  # noqa: F811
    from datetime import timedelta

    from simulator.pki import CertPair, issue_client_cert

    expired = issue_client_cert(simulator.pki.folder, SENDER_A, valid_days=5,
                                not_before=datetime.now(UTC) - timedelta(days=30),
                                out=CertPair(tmp_path / "old.pem", tmp_path / "old-key.pem"))
    hook = _hook_with(monkeypatch, simulator, "expired", client_cert=str(expired.cert), client_key=str(expired.key))
    ok, message = hook.test_connection()
    assert not ok and "expired on" in message and str(expired.cert) in message
    with pytest.raises(BerichtenboxConfigError, match="expired on"):
        hook.ping()  # the check runs before the first call, not only on Test


def test_certificate_of_another_oin_is_refused(simulator, monkeypatch):  # noqa: F811
    other = "00000009999999999000"
    from simulator.pki import issue_client_cert

    pair = issue_client_cert(simulator.pki.folder, other)
    hook = _hook_with(monkeypatch, simulator, "otheroin", client_cert=str(pair.cert), client_key=str(pair.key))
    ok, message = hook.test_connection()
    assert not ok and f"has OIN {other} in its subject" in message and f"OIN is {SENDER_A}" in message


def test_certificate_outside_the_trust_chain_and_a_foreign_key_are_refused(simulator, monkeypatch, tmp_path):  # noqa: F811
    from simulator.pki import make_test_pki

    foreign = make_test_pki(tmp_path / "foreign", [SENDER_A])
    pair = foreign.client(SENDER_A)
    hook = _hook_with(monkeypatch, simulator, "foreign", client_cert=str(pair.cert),
                      client_key=str(simulator.cert(SENDER_A).key))
    ok, message = hook.test_connection()
    assert not ok
    assert "was not issued by a certificate in the trust chain" in message
    assert "does not belong to the certificate" in message


def test_berichtenbox_is_a_registered_connection_type_with_labelled_fields():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    hook = manager.hooks["berichtenbox"]
    assert hook.hook_class_name == "bbx.hooks.berichtenbox.BerichtenboxHook" and hook.connection_testable
    labels = {name.removeprefix("extra__berichtenbox__"): w.field["schema"]["title"]
              for name, w in manager.connection_form_widgets.items() if name.startswith("extra__berichtenbox__")}
    assert labels["cpa_id"] == "CPA id" and labels["client_cert"] == "Client certificate (path)"
    assert {"from_party_id", "client_key", "ca_cert", "validatie_url", "oin"} <= set(labels)
    assert manager.field_behaviours["berichtenbox"]["relabeling"] == {"host": "ebMS adapter base URL"}


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


def test_send_message_retries_503_500_and_drops_then_delivers_once(hook, simulator):  # noqa: F811
    """sendMessage is posted as a prebuilt envelope (not through zeep): the same
    classification holds — 503, a 500 without a SOAP Fault and a dropped connection are
    retried, and the batch arrives once."""
    [active] = simulator.admin.sample(SENDER_A, status="active", limit=1)
    batch_id, payload = _batch(simulator, [active], number=7)
    simulator.admin.set_faults(next_http_503=1, next_drop=1)
    ebms_id = hook.send_message(action=ACTION_DELIVER, payload=payload, name="batch.xml", conversation_id=batch_id)
    assert ebms_id and simulator.admin.faults()["next_http_503"] == 0 and simulator.admin.faults()["next_drop"] == 0
    [inbound_id] = _wait_for_inbound(hook, ACTION_DELIVERY_RESULT)
    assert hook.get_message(inbound_id).ref_to_message_id == ebms_id
    assert len(simulator.admin.box(active)) == 1

    simulator.admin.set_faults(next_http_500=3)  # retries=2: three attempts, all answered 500
    with pytest.raises(BerichtenboxUnavailable, match="sendMessage: .*failed 3 times .*HTTP 500"):
        hook.send_message(action=ACTION_DELIVER, payload=payload, name="batch.xml", conversation_id=batch_id)
