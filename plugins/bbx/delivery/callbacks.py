"""Delivering the callback outbox (``bbx_callbacks``): each due event is posted, signed,
to its connection's HTTPS URL; a 2xx is delivered, anything else is tried again with
exponential backoff (``bbx.domain.callbacks``) and finally listed as failed.

Each event is locked (``SKIP LOCKED``) and committed one at a time: two deliverers never
post the same event at once, and a crash loses at most the record of one post (which is
then posted again — receivers dedupe on the ``BBX-Event-Id`` header).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from bbx.domain import callbacks as rules
from bbx.store import callbacks as store
from bbx.store import db

log = logging.getLogger(__name__)


@dataclass
class CallbackSummary:
    delivered: int = 0
    retried: int = 0
    failed: list[int] = field(default_factory=list)  # event ids given up on in this pass

    def as_dict(self) -> dict:
        return {"delivered": self.delivered, "retried": self.retried, "failed": self.failed}


def body_of(row: dict) -> bytes:
    return json.dumps({"id": row["id"], "event": row["event"], "created_at": row["created_at"].isoformat(),
                       **row["payload"]}, separators=(",", ":"), ensure_ascii=False).encode()


def deliver_due(*, url: str | None = None, verify: bool | str = True, limit: int = 100,
                now: datetime | None = None) -> CallbackSummary:
    summary = CallbackSummary()
    with db.connect(url) as conn, httpx.Client(verify=verify, timeout=rules.TIMEOUT_SECONDS,
                                               follow_redirects=False) as client:
        for _ in range(limit):
            moment = now or datetime.now(UTC)
            with db.unit(conn):
                rows = store.due(conn, now=moment, limit=1)
                if not rows:
                    break
                row = rows[0]
                body = body_of(row)
                headers = {"Content-Type": "application/json", "BBX-Event-Id": str(row["id"]),
                           "BBX-Event": row["event"], rules.HEADER: rules.signature(store.secret_of(row), body)}
                try:
                    response = client.post(row["url"], content=body, headers=headers)
                    status, error = response.status_code, f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    status, error = None, f"{type(exc).__name__}: {exc}"
                if status is not None and 200 <= status < 300:
                    store.delivered(conn, row["id"], status)
                    summary.delivered += 1
                elif store.attempt_failed(conn, row, status=status, error=error, now=moment):
                    summary.failed.append(row["id"])
                    log.error("callback %s (%s) to connection %s failed for good after %d attempts: %s",
                              row["id"], row["event"], row["connection_id"], row["attempts"] + 1, error)
                else:
                    summary.retried += 1
                    log.warning("callback %s (%s): %s; tried again in %d s", row["id"], row["event"], error,
                                rules.delay_after(row["attempts"] + 1))
    return summary
