"""The daily certificate watch (issue 19): real certificates from the test PKI in the
Airflow Connections the hook reads; a certificate ending in 10 days warns, one ending in
5 days fails the run, one that is fine says nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from bbx import certificate_watch
from bbx.config.model import load
from bbx.store import administration
from simulator.pki import CertPair, issue_client_cert, make_root

OINS = {"voorbeeld": "00000001001234567000", "pf_metaal": "00000003123456780000",
        "pf_zorg": "00000003123456781000"}


def _connection(monkeypatch, folder: Path, code: str, days: int) -> None:
    pair = issue_client_cert(folder, OINS[code], valid_days=days,
                             out=CertPair(folder / f"{code}.pem", folder / f"{code}-key.pem"))
    extra = {"cpa_id": f"cpa-{code}", "from_party_id": f"urn:osb:oin:{OINS[code]}", "client_cert": str(pair.cert),
             "client_key": str(pair.key), "ca_cert": str(folder / "ca.pem")}
    monkeypatch.setenv(f"AIRFLOW_CONN_BERICHTENBOX_{code.upper()}",
                       json.dumps({"conn_type": "berichtenbox", "host": "https://127.0.0.1:1", "extra": extra}))


@pytest.fixture
def pki(tmp_path) -> Path:
    root = make_root(tmp_path)
    assert root.cert == tmp_path / "ca.pem"
    return tmp_path


def test_certificate_ending_in_10_days_warns_and_does_not_fail(monkeypatch, pki):
    _connection(monkeypatch, pki, "voorbeeld", days=10)
    _connection(monkeypatch, pki, "pf_metaal", days=400)
    result = certificate_watch.watch(["voorbeeld", "pf_metaal"])
    assert result.checked == ["voorbeeld", "pf_metaal"]
    assert result.failures == {}
    assert list(result.warnings) == ["voorbeeld"]
    (warning,) = result.warnings["voorbeeld"]
    assert "client certificate" in warning and "within 30 days" in warning and "voorbeeld.pem" in warning


def test_certificate_ending_in_5_days_fails(monkeypatch, pki):
    _connection(monkeypatch, pki, "voorbeeld", days=5)
    result = certificate_watch.watch(["voorbeeld"])
    (failure,) = result.failures["voorbeeld"]
    assert "within 7 days" in failure


def test_a_connection_without_airflow_connection_fails_by_name(monkeypatch, pki):
    monkeypatch.delenv("AIRFLOW_CONN_BERICHTENBOX_NOWHERE", raising=False)
    result = certificate_watch.watch(["nowhere"])
    assert "nowhere" in result.failures and "berichtenbox_nowhere" in result.failures["nowhere"][0]


def test_the_task_checks_every_active_connection_and_fails_the_run(db, sample_config_path, monkeypatch, pki):
    administration.apply_config(db, load(sample_config_path), actor="test")
    db.commit()
    _connection(monkeypatch, pki, "voorbeeld", days=10)
    _connection(monkeypatch, pki, "pf_metaal", days=400)
    _connection(monkeypatch, pki, "pf_zorg", days=400)
    summary = certificate_watch.run()
    assert sorted(summary["checked"]) == ["pf_metaal", "pf_zorg", "voorbeeld"]
    assert list(summary["warnings"]) == ["voorbeeld"] and summary["failures"] == {}
    _connection(monkeypatch, pki, "pf_zorg", days=3)
    with pytest.raises(AirflowFailException, match="pf_zorg: .*within 7 days"):
        certificate_watch.run()


def test_a_chain_certificate_ending_soon_warns_and_then_fails(monkeypatch, tmp_path):
    make_root(tmp_path, valid_days=20)  # the trust chain's root ends in 20 days, the client certificate later
    _connection(monkeypatch, tmp_path, "voorbeeld", days=400)
    result = certificate_watch.watch(["voorbeeld"])
    assert result.failures == {}
    assert any("trust chain certificate" in w and "within 30 days" in w for w in result.warnings["voorbeeld"])
    make_root(tmp_path / "short", valid_days=3)
    _connection(monkeypatch, tmp_path / "short", "voorbeeld", days=400)
    result = certificate_watch.watch(["voorbeeld"])
    assert any("trust chain certificate" in f and "within 7 days" in f for f in result.failures["voorbeeld"])


def _home(key: str) -> str:
    from fastapi.testclient import TestClient

    from bbx.api.app import create_app
    from bbx.store import api_keys, db, users

    # English: the wording pinned below is the message ids
    with TestClient(create_app(), base_url="http://testserver", headers={"Accept-Language": "en"}) as client:
        # people sign in with an account of their own (issue 14): one of the key's role and tenant
        with db.transaction() as conn:
            owner = api_keys.authenticate(conn, key)
            name = f"watch-{owner.role}-{owner.tenant_code or 'all'}"
            if users.get(conn, name) is None:
                users.add(conn, username=name, password="test-password-1", role=owner.role,
                          tenant_code=owner.tenant_code, full_name="Test", created_by="test")
        response = client.post("/login", data={"username": name, "password": "test-password-1", "next": "/"},
                               follow_redirects=False)
        assert response.status_code == 303, response.text
        page = client.get("/")
        assert page.status_code == 200
        return page.text


def test_the_status_page_shows_operators_the_watch_findings(db, sample_config_path, monkeypatch, pki):
    from bbx.store import api_keys

    administration.apply_config(db, load(sample_config_path), actor="test")
    operator = api_keys.create_key(db, tenant_code=None, operator=True, name="ops", created_by="test").key
    tenant = api_keys.create_key(db, tenant_code="gemeente-voorbeeld", operator=False, name="A",
                                 created_by="test").key
    db.commit()
    assert "not checked yet" in _home(operator)  # before the first run: said so, not "in order"
    _connection(monkeypatch, pki, "voorbeeld", days=10)
    _connection(monkeypatch, pki, "pf_metaal", days=400)
    _connection(monkeypatch, pki, "pf_zorg", days=400)
    certificate_watch.run()  # a warning: the run stays green

    page = _home(operator)
    assert "Certificates need attention (1 connection)" in page
    (alert,) = re.findall(r'<div class="problems" role="alert">(.*?)</div>', page, re.S)
    assert "<code>voorbeeld</code>" in alert and "within 30 days" in alert and "voorbeeld.pem" in alert
    assert "pf_metaal" not in alert and "pf_zorg" not in alert
    assert page.count("in order") == 2 and "warning: expires within 30 days" in page

    assert "Client certificates" not in _home(tenant)  # operators' part of the page only

    _connection(monkeypatch, pki, "pf_zorg", days=3)
    with pytest.raises(AirflowFailException):
        certificate_watch.run()  # recorded before the run goes red
    page = _home(operator)
    assert "Certificates need attention (2 connections)" in page
    assert "failure: replace now" in page and "within 7 days" in page
