"""Fixtures of the delivery tests: the sample tenants in a fresh BBX database, the
simulator (over mTLS) configured to match them, a real SFTP server for the outboxes.
Helpers to hand in submissions and seed the register are in ``delivery_helpers``.
"""

from __future__ import annotations

import json

import pytest
from callback_receiver import receiver  # noqa: F401 (fixture: a real HTTPS receiver of callbacks)
from delivery_helpers import Connection, DeliveryWorld, _fresh_refresh, airflow_connection

from simulator.sftp_server import SftpServer, SftpUser
from simulator.testing import (  # noqa: F401 (fixtures)
    SimulatorHandle,
    simulator,
    simulator_pki,
    simulator_server,
)


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("sftp-root")
    server = SftpServer(root, [SftpUser("bbx", password="bbx-test-secret")]).start()
    yield server
    server.stop()


@pytest.fixture
def tenants(db, database_url, sample_config_path) -> DeliveryWorld:
    """The sample configuration in a fresh database with fresh registers (no simulator)."""
    from bbx.config.model import load
    from bbx.store import administration

    administration.apply_config(db, load(sample_config_path), actor="test")
    db.commit()
    connections: dict[str, Connection] = {}
    for row in db.execute("SELECT id, code, oin, cpa_id, sftp_folder FROM connections ORDER BY code").fetchall():
        types = {t["code"]: t["id"] for t in db.execute(
            "SELECT id, code FROM message_types WHERE connection_id = %s", (row["id"],))}
        connections[row["code"]] = Connection(row["id"], row["code"], row["oin"].strip(), row["cpa_id"],
                                              row["sftp_folder"], types)
        _fresh_refresh(db, row["id"])
    db.commit()
    return DeliveryWorld(db, database_url, None, None, connections, {})


@pytest.fixture
def world(tenants, simulator, sftp_server, monkeypatch) -> DeliveryWorld:  # noqa: F811
    """``tenants`` plus the simulator configured to match them, the SFTP server for the
    outboxes, and the Airflow Connections (as environment variables) pointing at both."""
    env = {
        "AIRFLOW_CONN_BBX_SFTP": json.dumps(sftp_server.airflow_connection("bbx")),
    }
    for c in tenants.connections.values():
        # population 0: exactly the BSNs a test subscribes are subscribed at MijnOverheid
        simulator.admin.add_sender(c.oin, sorted(c.types), cpa_id=c.cpa_id, population={"size": 0})
        env[f"AIRFLOW_CONN_BERICHTENBOX_{c.code.upper()}"] = airflow_connection(simulator, c)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    simulator.admin.settings(result_delay=0.0)
    tenants.sim = simulator
    tenants.sftp_root = sftp_server.root
    tenants.airflow_env = env
    return tenants
