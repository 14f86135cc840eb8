"""Fixtures of the register tests: a connection, a driver that runs refreshes through
the store with the simulator's own answers, a real SFTP server, and the running
simulator over mTLS (``simulator.testing``). Helpers are in register_helpers.py."""

from __future__ import annotations

import json

import pytest
from register_helpers import OIN_A, Driver, berichtenbox_connection, make_connection, population

from simulator.testing import simulator, simulator_pki, simulator_server  # noqa: F401 (fixtures)


@pytest.fixture
def connection(db) -> dict:
    return make_connection(db, "gemeente_t", OIN_A, export=True)


@pytest.fixture
def driver(db, connection) -> Driver:
    return Driver(db, connection, population())


@pytest.fixture
def sftp(tmp_path, monkeypatch):
    """A real SFTP server (asyncssh, over TCP) with user ``bbx``; Airflow Connection
    ``bbx_sftp`` points at it. Yields the server root folder."""
    from simulator.sftp_server import SftpServer, SftpUser

    root = tmp_path / "sftp-root"
    root.mkdir()
    server = SftpServer(root, [SftpUser("bbx", password="bbx-test-secret")]).start()
    monkeypatch.setenv("AIRFLOW_CONN_BBX_SFTP", json.dumps(server.airflow_connection("bbx")))
    try:
        yield root
    finally:
        server.stop()


SIM_POPULATION = {"seed": 42, "size": 4000, "epoch": "2026-06-01", "stable_share": 0.5,
                  "min_cycle_days": 20, "max_cycle_days": 60}


@pytest.fixture
def sim(simulator, monkeypatch, db):  # noqa: F811 (the imported fixture)
    """The simulator with a lively population for OIN_A, the BBX connection for it
    (``gemeente_t``, no export), and the Airflow Connection berichtenbox_gemeente_t
    pointing at the simulator."""
    simulator.admin.add_sender(OIN_A, ["UPO2026", "PASVERL"], population=SIM_POPULATION)
    simulator.admin.settings(register_delay=0.05)
    monkeypatch.setenv("AIRFLOW_CONN_BERICHTENBOX_GEMEENTE_T", json.dumps(berichtenbox_connection(simulator, OIN_A)))
    make_connection(db, "gemeente_t", OIN_A, export=False)
    return simulator
