"""Limits per tenant on the send endpoint (issue 19): a rate and a concurrency limit per
API key and per connection, and a daily cap per connection — HTTP 429 with Retry-After
and BBX's error body, state in PostgreSQL (shared by every api-server worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from api_helpers import bsns, connection_id, send

from bbx.api import throttle
from bbx.api.auth import Principal
from bbx.config.model import load
from bbx.store import administration


def _limits(db, code: str, **columns) -> None:
    sets = ", ".join(f"{k} = %s" for k in columns)
    db.execute(f"UPDATE connections SET {sets} WHERE code = %s", (*columns.values(), code))
    db.commit()


def _refused(response, code: str) -> int:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def test_rate_limit_per_connection_refuses_with_retry_after_and_spares_other_tenants(client, keys, configured):
    _limits(configured, "voorbeeld", rate_limit_per_minute=3)
    for i in range(3):
        assert send(client, keys.a, bsns=bsns(2, seed=i)).status_code == 201
    response = send(client, keys.a, bsns=bsns(2, seed=9))
    assert _refused(response, "rate_limited") <= 60
    assert "voorbeeld" in response.json()["error"]["message"]
    # nothing was handed in by the refused request
    assert configured.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 3
    # another tenant's connection is not starved
    other = send(client, keys.b, "pf_metaal", message_type="PENSBRF", bsns=bsns(2, seed=3), text="Brief")
    assert other.status_code == 201, other.text


def test_rate_limit_per_api_key_across_connections(client, keys, monkeypatch):
    monkeypatch.setattr(throttle, "API_KEY_REQUESTS_PER_MINUTE", 2)
    body = {"message_type": "UPO2026", "bsns": bsns(2, seed=4)}
    assert send(client, keys.b, "pf_metaal", **body).status_code == 201
    assert send(client, keys.b, "pf_zorg", **{**body, "bsns": bsns(2, seed=5)}).status_code == 201
    response = send(client, keys.b, "pf_zorg", **{**body, "bsns": bsns(2, seed=6)})
    _refused(response, "rate_limited")
    assert "API key" in response.json()["error"]["message"]


def test_concurrency_limit_per_connection(client, keys, configured):
    _limits(configured, "voorbeeld", concurrency_limit=1)
    cid = connection_id(configured, "voorbeeld")
    other_worker = Principal("api-key:other", "tenant", None, None, "other", "api_key")
    with throttle.send_slot(other_worker, {"id": cid, "code": "voorbeeld"}):  # a request running elsewhere
        response = send(client, keys.a)
        _refused(response, "too_many_concurrent_requests")
    assert send(client, keys.a).status_code == 201  # the slot was given back
    assert configured.execute("SELECT count(*) AS n FROM send_inflight").fetchone()["n"] == 0


def test_concurrency_slot_is_given_back_when_the_request_fails(client, keys, configured):
    _limits(configured, "voorbeeld", concurrency_limit=1)
    bad = send(client, keys.a, bsns=["123456789"])  # fails the 11-test: 422
    assert bad.status_code == 422
    assert send(client, keys.a).status_code == 201


def test_daily_cap_per_connection(client, keys, configured):
    _limits(configured, "voorbeeld", daily_message_cap=5)
    assert send(client, keys.a, bsns=bsns(3, seed=1)).status_code == 201
    response = send(client, keys.a, bsns=bsns(3, seed=2))
    assert _refused(response, "daily_cap_reached") <= 24 * 3600 + 3600
    assert "5" in response.json()["error"]["message"] and "2" in response.json()["error"]["message"]
    assert send(client, keys.a, bsns=bsns(2, seed=2)).status_code == 201
    _refused(send(client, keys.a, bsns=bsns(1, seed=3)), "daily_cap_reached")


def test_send_limits_come_from_the_tenant_configuration(db, sample_config_path, tmp_path):
    data = yaml.safe_load(Path(sample_config_path).read_text())
    data["tenants"][0]["connections"][0]["send_limits"] = {"requests_per_minute": 10, "concurrent_requests": 2,
                                                           "daily_messages": 50_000}
    config_file = Path(sample_config_path).parent / f"limits-{tmp_path.name}.yaml"
    config_file.write_text(yaml.safe_dump(data))
    try:
        administration.apply_config(db, load(config_file), actor="test")
    finally:
        config_file.unlink()
    row = db.execute("SELECT rate_limit_per_minute, concurrency_limit, daily_message_cap FROM connections"
                     " WHERE code = 'voorbeeld'").fetchone()
    assert row == {"rate_limit_per_minute": 10, "concurrency_limit": 2, "daily_message_cap": 50_000}
    other = db.execute("SELECT rate_limit_per_minute, concurrency_limit, daily_message_cap FROM connections"
                       " WHERE code = 'pf_metaal'").fetchone()
    assert other == {"rate_limit_per_minute": 60, "concurrency_limit": 4, "daily_message_cap": None}


@pytest.mark.parametrize("bad", [{"requests_per_minute": 0}, {"daily_messages": -1}, {"burst": 3}])
def test_invalid_send_limits_are_refused(sample_config_path, tmp_path, bad):
    from bbx.config.model import ConfigError

    data = yaml.safe_load(Path(sample_config_path).read_text())
    data["tenants"][0]["connections"][0]["send_limits"] = bad
    config_file = Path(sample_config_path).parent / f"bad-{tmp_path.name}.yaml"
    config_file.write_text(yaml.safe_dump(data))
    try:
        with pytest.raises(ConfigError, match="send_limits"):
            load(config_file)
    finally:
        config_file.unlink()


