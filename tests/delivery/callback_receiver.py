"""The ``receiver`` fixture: a real HTTPS receiver of BBX's status callbacks in the test
process (``simulator.callback_receiver``), its certificate from a private test root that
BBX trusts through ``BBX_CALLBACK_CA_FILE``."""

from __future__ import annotations

import pytest

from simulator.callback_receiver import Receiver

__all__ = ["Receiver", "receiver"]


@pytest.fixture
def receiver(tmp_path, monkeypatch):
    r = Receiver(tmp_path / "pki")
    monkeypatch.setenv("BBX_CALLBACK_CA_FILE", r.ca)  # the deployment trusts the receiver's private CA
    yield r
    if r.hold is not None:
        r.hold.set()
    r.close()
