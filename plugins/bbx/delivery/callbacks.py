"""Delivering the callback outbox (``bbx_callbacks``): each due event is posted, signed,
to its connection's HTTPS URL; a 2xx is delivered, anything else is tried again with
exponential backoff (``bbx.domain.callbacks``) and finally listed as failed. A tenant
asks for one to be tried again ("retry now" on the page or the web service:
:func:`request_retry`): that only makes it due now — the next pass of ``bbx_callbacks``
posts it, so a hanging receiver never holds up a web request. The operator's ``bbx
callbacks retry`` posts it at once (:func:`retry_now`) and shows the answer.

Trust: the receiver's certificate is always verified; trusted are the public CAs (httpx's
default, ``SSL_CERT_FILE``), the deployment's ``BBX_CALLBACK_CA_FILE`` and the connection's
own CA bundle from the tenant configuration (``callback.ca_file``) — see :func:`trust`.

Each event is locked (``SKIP LOCKED``) and committed one at a time: two deliverers never
post the same event at once, and a crash loses at most the record of one post (which is
then posted again — receivers dedupe on the ``BBX-Event-Id`` header).

The secret of a connection whose callback is set in the tenant configuration is read from
Airflow's secrets chain at every post (``bbx.airflow_secrets``), so rotating it there needs
no apply; a missing or too short secret is a failed try (nothing is posted unsigned).
"""

from __future__ import annotations

import json
import logging
import os
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from bbx import airflow_secrets
from bbx.domain import callbacks as rules
from bbx.store import callbacks as store
from bbx.store import db

log = logging.getLogger(__name__)


@dataclass
class CallbackSummary:
    delivered: int = 0
    retried: int = 0
    failed: list[int] = field(default_factory=list)  # event ids given up on in this pass
    secrets: dict[str, str | None] = field(default_factory=dict, repr=False)  # see secret_for
    clients: dict[str | None, httpx.Client] = field(default_factory=dict, repr=False)  # by own CA bundle

    def as_dict(self) -> dict:
        return {"delivered": self.delivered, "retried": self.retried, "failed": self.failed}


def body_of(row: dict) -> bytes:
    return json.dumps({"id": row["id"], "event": row["event"], "created_at": row["created_at"].isoformat(),
                       **row["payload"]}, separators=(",", ":"), ensure_ascii=False).encode()


def secret_for(row: dict, looked_up: dict[str, str | None]) -> str:
    """The HMAC secret of the event's endpoint (raises CallbackSecretError for a configured
    Variable that is missing or too short). ``looked_up``: the Variables read in this pass
    (one secrets-backend call per connection and pass, not per post)."""
    if variable := row["secret_variable"]:
        if variable not in looked_up:
            looked_up[variable] = airflow_secrets.variable(variable)
        return rules.check_secret(looked_up[variable], variable)
    return store.stored_secret(row)


def configured_secret_problems(config) -> list[str]:
    """Before a config apply: every configured callback whose secret Variable is missing or
    too short (a ``bbx.config.model.TenantConfig``), one line each."""
    problems = []
    for tenant in config.tenants:
        for spec in tenant.connections:
            if spec.callback_secret_variable:
                try:
                    rules.check_secret(airflow_secrets.variable(spec.callback_secret_variable),
                                       spec.callback_secret_variable)
                except rules.CallbackSecretError as exc:
                    problems.append(f"connection {spec.code}: callback: {exc}")
    return problems


CA_FILE_ENV = "BBX_CALLBACK_CA_FILE"


def trust(ca_pem: str | None = None) -> ssl.SSLContext:
    """The certificates a callback receiver may present: the public CAs, plus the file named
    by ``BBX_CALLBACK_CA_FILE`` and the connection's own bundle (``ca_pem``). Verification
    (chain and host name) stays on whatever is added."""
    context = httpx.create_ssl_context()
    if ca_file := os.environ.get(CA_FILE_ENV, "").strip():
        context.load_verify_locations(cafile=ca_file)
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    return context


def _client(summary: CallbackSummary, ca_pem: str | None) -> httpx.Client:
    if ca_pem not in summary.clients:  # one client (and TLS context) per trust, per pass
        summary.clients[ca_pem] = httpx.Client(verify=trust(ca_pem), timeout=rules.TIMEOUT_SECONDS,
                                               follow_redirects=False)
    return summary.clients[ca_pem]


def _close(summary: CallbackSummary) -> None:
    for client in summary.clients.values():
        client.close()


def _post(conn, row: dict, moment: datetime, summary: CallbackSummary) -> str:
    """One signed post of ``row`` and its record; returns delivered | retrying | failed."""
    body = body_of(row)
    try:
        client = _client(summary, row["ca_pem"])
        headers = {"Content-Type": "application/json", "BBX-Event-Id": str(row["id"]), "BBX-Event": row["event"],
                   rules.HEADER: rules.signature(secret_for(row, summary.secrets), body)}
        response = client.post(row["url"], content=body, headers=headers)
        status, error = response.status_code, f"HTTP {response.status_code}"
    except rules.CallbackSecretError as exc:
        status, error = None, f"not posted: {exc}"
    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:  # OSError: BBX_CALLBACK_CA_FILE unreadable
        status, error = None, f"{type(exc).__name__}: {exc}"
    if status is not None and 200 <= status < 300:
        store.delivered(conn, row["id"], status)
        summary.delivered += 1
        return "delivered"
    if store.attempt_failed(conn, row, status=status, error=error, now=moment):
        summary.failed.append(row["id"])
        log.error("callback %s (%s) to connection %s failed for good after %d attempts: %s",
                  row["id"], row["event"], row["connection_id"], row["attempts"] + 1, error)
        return "failed"
    summary.retried += 1
    log.warning("callback %s (%s): %s; tried again in %d s", row["id"], row["event"], error,
                rules.delay_after(row["attempts"] + 1))
    return "retrying"


def deliver_due(*, url: str | None = None, limit: int = 100, now: datetime | None = None) -> CallbackSummary:
    summary = CallbackSummary()
    try:
        with db.connect(url) as conn:
            for _ in range(limit):
                moment = now or datetime.now(UTC)
                with db.unit(conn):
                    rows = store.due(conn, now=moment, limit=1)
                    if not rows:
                        break
                    _post(conn, rows[0], moment, summary)
    finally:
        _close(summary)
    return summary


def request_retry(conn, connection_id: int, event_id: int, *, actor: str) -> str | None:
    """"Retry now" from the page or the web service: the event is due now for the
    deliverer's next pass (``bbx_callbacks``, every minute), which posts it with the usual
    record and backoff; a failed event gets that one more try. Audited ``callback.retry``.
    Returns ``queued``, or None when the connection has no such undelivered event."""
    with db.unit(conn):
        return None if store.take_for_retry(conn, connection_id, event_id, actor=actor) is None else "queued"


def retry_now(conn, connection_id: int, event_id: int, *, actor: str) -> str | None:
    """The operator's immediate post of one undelivered event (``bbx callbacks retry``,
    audited ``callback.retry``): delivered, retrying (refused again, next try by the backoff)
    or failed (a failed event gets this one try). None when the connection has no such
    undelivered event."""
    summary = CallbackSummary()
    try:
        with db.unit(conn):
            row = store.take_for_retry(conn, connection_id, event_id, actor=actor)
            if row is None:
                return None
            return _post(conn, row, datetime.now(UTC), summary)
    finally:
        _close(summary)
