"""The daily certificate watch (issue 19): real certificates from the test PKI in the
Airflow Connections the hook reads; a certificate ending in 10 days warns, one ending in
5 days fails the run, one that is fine says nothing."""

from __future__ import annotations

import json
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
