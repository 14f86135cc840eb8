"""pytest fixtures for a running simulator over mTLS, for any team's tests.

Use them from a ``conftest.py``::

    from simulator.testing import simulator, simulator_pki, simulator_server  # noqa: F401

(or ``pytest_plugins = ["simulator.testing"]`` in the top-level ``tests/conftest.py``).

* ``simulator_server`` (session): one simulator on a free 127.0.0.1 port in a
  background thread, with a fresh test PKI; yields a :class:`SimulatorHandle`.
* ``simulator`` (function): the same handle, reset before the test: nothing received,
  no faults, the clock back to the real date and the default senders only.

Default senders (``SENDER_A``/``SENDER_B``) have message types ``UPO2026``, ``PASVERL``
and ``TEST`` and a population of 2,000. Register your own with
``handle.admin.add_sender(oin, [...types], cpa_id=..., sender_code=...)`` or
``handle.register_tenants("config/sample/tenants.yaml")`` — the PKI has client
certificates for the OINs in ``EXTRA_CERT_OINS`` too (``handle.pki.client(oin)``); call
``handle.issue_client_cert(oin)`` for any other OIN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from simulator.client import AdminClient, ebms_client, validatie_client
from simulator.config import SenderConfig, SimulatorConfig, senders_from_tenants
from simulator.pki import CertPair, TestPki, issue_client_cert, make_test_pki
from simulator.server import RunningSimulator, TlsFiles

SENDER_A = "00000001001234567000"
SENDER_B = "00000001002345678000"
MESSAGE_TYPES = ["UPO2026", "PASVERL", "TEST"]
# Certificates also made for: an intermediary OIN (register it in a sender's
# certificate_oins to test the one-certificate-for-many-senders set-up) and a stranger.
INTERMEDIARY = "00000001009999999000"
STRANGER = "00000001000000666000"
EXTRA_CERT_OINS = (INTERMEDIARY, STRANGER)


def default_config() -> SimulatorConfig:
    """The fixture's configuration: two senders, short delays."""
    senders = [
        SenderConfig.from_dict(
            {"oin": oin, "message_types": MESSAGE_TYPES, "population": {"seed": seed, "size": 2000}}
        )
        for oin, seed in ((SENDER_A, 1), (SENDER_B, 2))
    ]
    return SimulatorConfig(senders=senders, result_delay=0.2, register_delay=0.2)


@dataclass
class SimulatorHandle:
    """What a test gets: where the simulator is, its PKI, and clients for it."""

    base_url: str
    pki: TestPki
    admin: AdminClient
    config: SimulatorConfig
    running: RunningSimulator
    _clients: dict = field(default_factory=dict, repr=False)

    @property
    def ebms_url(self) -> str:
        return self.base_url + "/service/ebms"

    @property
    def validatie_url(self) -> str:
        return self.base_url + "/BerichtenboxValidatieService"

    @property
    def app(self):
        """The in-process :class:`simulator.app.Simulator` (direct access, same process)."""
        return self.running.app

    def cert(self, oin: str = SENDER_A) -> CertPair:
        return self.pki.client(oin)

    def issue_client_cert(self, oin: str, **kwargs) -> CertPair:
        """A client certificate for another OIN, signed by the simulator's test root."""
        pair = issue_client_cert(self.pki.folder, oin, **kwargs)
        self.pki.clients[oin] = pair
        return pair

    def ebms_client(self, oin: str = SENDER_A, wsdl: Path | None = None):
        """zeep service proxy of the ebMS API with ``oin``'s client certificate (cached
        per OIN: building a zeep client parses the WSDL)."""
        key = ("ebms", oin, str(wsdl))
        if key not in self._clients:
            self._clients[key] = ebms_client(self.base_url, self.pki.ca, self.cert(oin), wsdl=wsdl)
        return self._clients[key]

    def validatie_client(self, oin: str = SENDER_A):
        """zeep client of ValidateAbonnementen (from the served WSDL), cached per OIN."""
        key = ("validatie", oin, "")
        if key not in self._clients:
            self._clients[key] = validatie_client(self.base_url, self.pki.ca, self.cert(oin))
        return self._clients[key]

    def sender(self, oin: str = SENDER_A) -> SenderConfig:
        found = self.app.sender(oin)
        assert found is not None, f"sender {oin} is not registered in the simulator"
        return found

    def register_tenants(self, path: Path | str, intermediary_oin: str | None = None) -> list[str]:
        """Register a sender for every connection of a BBX tenant file (until the next
        reset) and make client certificates for their OINs; returns the OINs."""
        oins = []
        for data in senders_from_tenants(Path(path)):
            if intermediary_oin:
                data["certificate_oins"] = [data["oin"], intermediary_oin]
            self.app.register_sender(SenderConfig.from_dict(data))
            oins.append(data["oin"])
        for oin in [*oins, *([intermediary_oin] if intermediary_oin else [])]:
            if oin not in self.pki.clients:
                self.issue_client_cert(oin)
        return oins

    def reset(self) -> None:
        self.app.reset(state=True, faults=True, clock=True, senders=True)


@pytest.fixture(scope="session")
def simulator_pki(tmp_path_factory) -> TestPki:
    return make_test_pki(
        tmp_path_factory.mktemp("simulator-pki"), [SENDER_A, SENDER_B, *EXTRA_CERT_OINS]
    )


@pytest.fixture(scope="session")
def simulator_server(simulator_pki: TestPki):
    config = default_config()
    tls = TlsFiles(simulator_pki.server.cert, simulator_pki.server.key, simulator_pki.ca)
    running = RunningSimulator(config, tls).start()
    admin = AdminClient(running.base_url, simulator_pki.ca, simulator_pki.admin)
    try:
        yield SimulatorHandle(running.base_url, simulator_pki, admin, config, running)
    finally:
        admin.close()
        running.stop()


@pytest.fixture
def simulator(simulator_server: SimulatorHandle) -> SimulatorHandle:
    simulator_server.reset()
    return simulator_server
