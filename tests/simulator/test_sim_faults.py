"""Fault injection, set at run time through the admin API."""

from __future__ import annotations

import time

import pytest
import requests
from sim_helpers import send, wait_for_inbound
from zeep.exceptions import TransportError

from simulator.samples import SampleBericht, batch_xml
from simulator.testing import SENDER_A


def _payload(simulator, count: int = 1):
    berichten = [SampleBericht(b) for b in simulator.admin.sample(SENDER_A, "active", count)]
    return berichten, batch_xml(berichten, SENDER_A)


@pytest.mark.parametrize("status", [500, 503])
def test_http_errors_are_not_processed(simulator, ebms, status):
    _, payload = _payload(simulator)
    simulator.admin.set_faults(**{f"next_http_{status}": 1})
    with pytest.raises(TransportError) as caught:
        send(ebms, payload)
    assert caught.value.status_code == status
    assert simulator.admin.stats()["messages_received"] == 0
    send(ebms, payload)  # only the next one failed
    assert simulator.admin.stats()["messages_received"] == 1
    assert simulator.admin.faults()["injected"][f"http_{status}"] == 1


def test_rates_draw_faults(simulator, ebms):
    _, payload = _payload(simulator)
    simulator.admin.set_faults(http_503_rate=1.0)
    for _ in range(3):
        with pytest.raises(TransportError):
            send(ebms, payload)
    simulator.admin.set_faults(http_503_rate=0.0)
    send(ebms, payload)


def test_drop_mid_request_processes_nothing(simulator, ebms):
    _, payload = _payload(simulator)
    simulator.admin.set_faults(next_drop=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        send(ebms, payload)
    assert simulator.admin.stats()["messages_received"] == 0
    assert simulator.admin.stats()["sent"] == 0


def test_drop_after_processing_did_process(simulator, ebms):
    berichten, payload = _payload(simulator)
    simulator.admin.set_faults(next_drop_after_processing=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        send(ebms, payload)
    assert simulator.admin.bericht(berichten[0].bericht_id)["outcomes"] == ["Verwerkt"]
    # BBX resends the same message: the citizen still has it once
    message_id = send(ebms, payload)
    (result,) = wait_for_inbound(ebms, message_id)
    assert b"BerichtBestaatAl" in result.dataSource[0].content
    assert len(simulator.admin.box(berichten[0].bsn)) == 1


def test_latency_is_added(simulator, ebms):
    _, payload = _payload(simulator)
    simulator.admin.set_faults(latency=0.4)
    started = time.monotonic()
    send(ebms, payload)
    assert time.monotonic() - started >= 0.4


def test_result_delivered_twice(simulator, ebms):
    _, payload = _payload(simulator)
    simulator.admin.set_faults(next_duplicate_result=1)
    message_id = send(ebms, payload)
    results = wait_for_inbound(ebms, message_id, count=2)
    assert len(results) == 2
    assert results[0].properties.messageId != results[1].properties.messageId
    assert results[0].dataSource[0].content == results[1].dataSource[0].content


def test_results_delayed(simulator, ebms):
    _, payload = _payload(simulator)
    simulator.admin.set_faults(result_extra_delay=0.8)
    message_id = send(ebms, payload)
    time.sleep(0.4)
    assert not ebms.getUnprocessedMessageIds()
    assert len(wait_for_inbound(ebms, message_id, timeout=3)) == 1


def test_technisch_probleem_rate(simulator, ebms):
    berichten, payload = _payload(simulator, 20)
    simulator.admin.set_faults(technisch_probleem_rate=0.5, seed=42)
    message_id = send(ebms, payload)
    (result,) = wait_for_inbound(ebms, message_id)
    content = result.dataSource[0].content.decode()
    problems = content.count("<VerwerkingsCode>TechnischProbleem</VerwerkingsCode>")
    assert 0 < problems < 20
    assert simulator.admin.stats()["delivered"] == 20 - problems


def test_unknown_fault_settings_are_refused(simulator):
    with pytest.raises(RuntimeError, match="unknown fault setting"):
        simulator.admin.set_faults(explode=1)
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        simulator.admin.set_faults(http_500_rate=2)


def test_faults_given_at_start(simulator_pki):
    """Faults from the configuration apply from the first request."""
    from simulator.faults import FaultSettings
    from simulator.server import RunningSimulator, TlsFiles
    from simulator.testing import default_config

    config = default_config()
    config.faults = FaultSettings(next_http_503=1)
    tls = TlsFiles(simulator_pki.server.cert, simulator_pki.server.key, simulator_pki.ca)
    with RunningSimulator(config, tls) as running:
        from simulator.client import ebms_client

        client = ebms_client(running.base_url, simulator_pki.ca, simulator_pki.client(SENDER_A))
        with pytest.raises(TransportError):
            send(client, b"<x/>")
