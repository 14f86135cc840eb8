"""Which receivers BBX trusts for status callbacks (issue 18): real HTTPS receivers in the
test process, each behind its own private CA (simulator.pki). Trusted are the public CAs,
the deployment's BBX_CALLBACK_CA_FILE and a connection's own CA bundle (the
configuration's callback.ca_file); verification (chain and host name) is never off.
Real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from callback_receiver import Receiver
from delivery_helpers import bsns, rows_for

from bbx.delivery import callbacks as deliverer
from bbx.domain import callbacks as rules
from bbx.store import callbacks as store

SECRET = "whsec_trust-" + "t" * 32
VARIABLE = "bbx_callback_secret_trust"


def _outcome(tenants) -> list[tuple[str, int | None, str | None]]:
    tenants.db.rollback()
    return [(r["event"], r["last_status"], (r["last_error"] or "").split(":")[0] or None)
            for r in tenants.db.execute("SELECT event, last_status, last_error FROM callback_outbox ORDER BY id")]


def test_a_private_ca_is_trusted_only_where_it_is_configured(tenants, tmp_path, monkeypatch):
    monkeypatch.setenv(f"AIRFLOW_VAR_{VARIABLE.upper()}", SECRET)
    monkeypatch.delenv("BBX_CALLBACK_CA_FILE", raising=False)
    own = Receiver(tmp_path / "own-ca")  # the tenant's receiver: its CA in the connection's config
    other = Receiver(tmp_path / "other-ca")  # another private CA, nowhere configured
    try:
        voorbeeld = tenants.connections["voorbeeld"].id
        store.configure_endpoint(tenants.db, voorbeeld, own.url, VARIABLE, ca_pem=Path(own.ca).read_text(),
                                 actor="test")
        tenants.db.commit()
        tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=251)))
        now = datetime.now(UTC) + timedelta(seconds=1)
        assert deliverer.deliver_due(url=tenants.url, now=now).delivered == 1
        ((headers, body),) = own.posts
        assert rules.verify(SECRET, body, headers[rules.HEADER])

        # the same connection pointed at a receiver of a CA it does not name: refused, nothing posted
        store.configure_endpoint(tenants.db, voorbeeld, other.url, VARIABLE, ca_pem=Path(own.ca).read_text(),
                                 actor="test")
        tenants.db.commit()
        tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=252)))
        refused = deliverer.deliver_due(url=tenants.url, now=now)
        assert (refused.delivered, refused.retried, other.posts) == (0, 1, [])
        assert _outcome(tenants)[-1] == ("submission.accepted", None, "ConnectError")

        # the deployment-wide bundle: the operator trusts that CA for every connection
        monkeypatch.setenv("BBX_CALLBACK_CA_FILE", other.ca)
        later = now + timedelta(seconds=rules.delay_after(1) + 1)
        assert deliverer.deliver_due(url=tenants.url, now=later).delivered == 1
        assert len(other.posts) == 1
    finally:
        own.close()
        other.close()


def test_a_trusted_ca_does_not_switch_off_the_host_name_check(tenants, tmp_path, monkeypatch):
    elsewhere = Receiver(tmp_path / "pki", hosts=("receiver.example",))  # a valid cert, for another host
    try:
        monkeypatch.setenv("BBX_CALLBACK_CA_FILE", elsewhere.ca)
        store.set_endpoint(tenants.db, tenants.connections["voorbeeld"].id, elsewhere.url, actor="test")
        tenants.db.commit()
        tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=253)))
        summary = deliverer.deliver_due(url=tenants.url, now=datetime.now(UTC) + timedelta(seconds=1))
        assert (summary.delivered, summary.retried, elsewhere.posts) == (0, 1, [])
        tenants.db.rollback()
        (error,) = [r["last_error"] for r in tenants.db.execute("SELECT last_error FROM callback_outbox")]
        assert "CERTIFICATE_VERIFY_FAILED" in error and "127.0.0.1" in error
    finally:
        elsewhere.close()


def test_an_unreadable_deployment_bundle_is_a_failed_try_not_an_unverified_post(tenants, receiver, monkeypatch,
                                                                                tmp_path):
    monkeypatch.setenv("BBX_CALLBACK_CA_FILE", str(tmp_path / "missing.pem"))
    store.set_endpoint(tenants.db, tenants.connections["voorbeeld"].id, receiver.url, actor="test")
    tenants.db.commit()
    tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=254)))
    summary = deliverer.deliver_due(url=tenants.url, now=datetime.now(UTC) + timedelta(seconds=1))
    assert (summary.delivered, summary.retried, receiver.posts) == (0, 1, [])
    assert _outcome(tenants) == [("submission.accepted", None, "FileNotFoundError")]
