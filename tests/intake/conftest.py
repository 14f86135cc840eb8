"""Fixtures of the intake tests: a real SFTP server (asyncssh, chroot per tenant, host-key
checking on in the Airflow connection) and the sample configuration in a fresh database.
Helpers are in ``intake_helpers``."""

from __future__ import annotations

import json

import pytest
from intake_helpers import CONNECTION, TENANT, TENANT_PASSWORD, Tenant

from simulator.sftp_server import SftpServer, SftpUser


@pytest.fixture
def sftp_server(tmp_path, monkeypatch):
    """A fresh SFTP server per test on a free 127.0.0.1 port; AIRFLOW_CONN_BBX_SFTP points at it."""
    server = SftpServer(
        tmp_path / "sftp-root",
        [SftpUser("bbx", password="bbx-secret"), SftpUser.tenant(TENANT, password=TENANT_PASSWORD),
         SftpUser.tenant("pensioenuitvoerder", password="other-secret")],
    ).start()
    monkeypatch.setenv("AIRFLOW_CONN_BBX_SFTP", json.dumps(server.airflow_connection("bbx")))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _english(english):
    """The intake tests pin the English wording (the message ids): in-process checks run in
    English, and ``configured`` sets the connections to ``language: en`` (what the intake
    steps use). Dutch, the default, is tested in test_tenant_language.py."""


@pytest.fixture
def configured(db, sample_config_path, request):
    """The sample tenant configuration applied to a fresh BBX database (connections in
    English unless the test is marked ``@pytest.mark.dutch``)."""
    from bbx.config.model import load
    from bbx.store import administration

    administration.apply_config(db, load(sample_config_path), actor="test")
    if request.node.get_closest_marker("dutch") is None:
        db.execute("UPDATE connections SET language = 'en'")
    db.commit()
    return db


@pytest.fixture
def tenant(sftp_server, configured):
    """The tenant of connection 'voorbeeld', with its folders created by a first poll."""
    from bbx.intake import steps

    steps.find_drops(CONNECTION)
    client = Tenant(sftp_server)
    yield client
    client.close()

