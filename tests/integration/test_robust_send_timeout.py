"""sendMessage's read timeout grows with the body (extra ``timeout_per_mb``): against the
simulator over mutual TLS with its ``latency`` fault, a batch that the fixed timeout gives
up on (ReadTimeout, then unavailable) goes out once the per-MB allowance covers the
adapter's time to answer."""

from __future__ import annotations

import json

import pytest
from test_berichtenbox_hook import _batch, connection_extra

from bbx.hooks.berichtenbox import ACTION_DELIVER, BerichtenboxHook, BerichtenboxUnavailable
from simulator.testing import SENDER_A, simulator, simulator_pki, simulator_server  # noqa: F401

LATENCY = 2.0  # the simulator answers every service request this late; the base timeout is 1 s


def _hook(sim, monkeypatch, name: str, timeout_per_mb: float) -> BerichtenboxHook:
    extra = connection_extra(sim, timeout=1, retries=0, timeout_per_mb=timeout_per_mb)
    monkeypatch.setenv(f"AIRFLOW_CONN_BERICHTENBOX_{name.upper()}",
                       json.dumps({"conn_type": "berichtenbox", "host": sim.base_url, "extra": extra}))
    return BerichtenboxHook.for_connection(name, backoff=0.05)


def test_the_read_timeout_of_a_send_scales_with_the_body(simulator, monkeypatch):  # noqa: F811
    active = simulator.admin.sample(SENDER_A, status="active", limit=2)
    first_id, first = _batch(simulator, active)
    second_id, second = _batch(simulator, active, number=2)
    # per MB: enough that this small batch's body (its base64 and envelope, > payload) gets 3 s more
    per_mb = 3 * 1_000_000 / len(second)
    fixed, scaled = _hook(simulator, monkeypatch, "fixed", 0), _hook(simulator, monkeypatch, "scaled", per_mb)
    assert scaled.settings.read_timeout(2_000_000) == pytest.approx(1 + 2 * per_mb)
    assert fixed.settings.read_timeout(48_000_000) == 1
    simulator.admin.set_faults(latency=LATENCY)
    try:
        with pytest.raises(BerichtenboxUnavailable, match="ReadTimeout"):
            fixed.send_message(action=ACTION_DELIVER, payload=first, name="batch.xml", conversation_id=first_id)
        assert scaled.send_message(action=ACTION_DELIVER, payload=second, name="batch.xml",
                                   conversation_id=second_id)
    finally:
        simulator.admin.set_faults(latency=0.0)


def test_the_default_allowance_is_two_seconds_per_mb(simulator, monkeypatch):  # noqa: F811
    extra = connection_extra(simulator)
    monkeypatch.setenv("AIRFLOW_CONN_BERICHTENBOX_PLAIN",
                       json.dumps({"conn_type": "berichtenbox", "host": simulator.base_url, "extra": extra}))
    settings = BerichtenboxHook.for_connection("plain").settings
    assert settings.timeout == 10 and settings.read_timeout(48_000_000) == 10 + 96
