"""Sending batches through the ebMS adapter, exactly as often as needed.

A batch is sent only while it is ``planned`` (never acknowledged). The order of steps
makes every crash safe:

1. take the batch's advisory lock (a second sender skips it; a killed worker's lock
   dies with its database session);
2. build the payload (rejections committed first);
3. ``sendMessage``;
4. record ``sent`` and commit.

Before step 3 the batch's transport is checked (``bbx.domain.delivery.check_transport``)
against the hook it is about to go through: a sandbox batch (a *test* key's) never reaches
the live adapter, whichever path asked for the send (a run, a resend, a redelivery).

A crash between 3 and 4 leaves the batch ``planned``: the rerun sends it again with the
same BatchID and BerichtIDs, and MijnOverheid answers ``BerichtBestaatAl`` for what the
citizen already has (counted as delivered). Nothing is lost, nothing is doubled.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bbx.delivery import config
from bbx.delivery.build import StandardSets, build
from bbx.domain import delivery as rules
from bbx.hooks.berichtenbox import (
    ACTION_DELIVER,
    BerichtenboxHook,
    BerichtenboxRequestError,
    BerichtenboxUnavailable,
)
from bbx.store import audit, db
from bbx.store import batches as batch_store
from bbx.store import cancel as cancel_store

log = logging.getLogger(__name__)

HookFactory = Callable[[str], BerichtenboxHook]
SandboxFactory = Callable[[str, str], BerichtenboxHook]  # (cpa_id, oin) -> the sandbox speaking for them


class Hooks:
    """One hook (one zeep client, one TLS session) per connection code and transport, per task."""

    def __init__(self, factory: HookFactory | None = None, sandbox_factory: SandboxFactory | None = None) -> None:
        backoff = config.hook_backoff()
        self._factory = factory or (lambda code: BerichtenboxHook.for_connection(code, backoff=backoff))
        self._sandbox_factory = sandbox_factory or (
            lambda cpa_id, oin: BerichtenboxHook.for_sandbox(cpa_id=cpa_id, oin=oin, backoff=backoff))
        self._hooks: dict[tuple[str, str], BerichtenboxHook] = {}

    def __call__(self, connection_code: str) -> BerichtenboxHook:
        """The live hook of a connection."""
        hook = self._hooks.get((rules.LIVE, connection_code))
        if hook is None:
            hook = self._hooks[(rules.LIVE, connection_code)] = self._factory(connection_code)
        return hook

    def route(self, connection: dict) -> BerichtenboxHook:
        """The hook of ``connection``'s transport (a row with ``connection_code`` or ``code``,
        ``sandbox``, ``cpa_id`` and ``oin``): the sandbox for a sandbox submission's batches."""
        code = connection.get("connection_code") or connection["code"]
        if rules.transport_for(sandbox=connection["sandbox"]) == rules.LIVE:
            return self(code)
        hook = self._hooks.get((rules.SANDBOX, code))
        if hook is None:
            hook = self._hooks[(rules.SANDBOX, code)] = self._sandbox_factory(connection["cpa_id"],
                                                                             connection["oin"])
        return hook


@dataclass
class SendSummary:
    outcomes: Counter = field(default_factory=Counter)  # per batch: sent, already_sent, locked, ...
    messages_sent: int = 0
    messages_rejected: int = 0
    bytes_sent: int = 0
    refused: list[str] = field(default_factory=list)  # batches the adapter refused (SOAP fault)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"batches": dict(self.outcomes), "messages_sent": self.messages_sent,
                "messages_rejected": self.messages_rejected, "bytes_sent": self.bytes_sent,
                "refused": self.refused, "seconds": round(self.seconds, 3)}


def send_batch(conn, hooks: Hooks, batch_id: str, *, standard_sets: StandardSets,
               summary: SendSummary) -> str:
    """Send one batch if it still needs sending. Returns what happened:
    ``sent``, ``already_sent``, ``locked`` (another process is sending it), ``missing``,
    ``cancelled`` (its submission was cancelled: its messages are, instead of sent),
    ``nothing_left`` (every message was rejected while building), ``refused`` (the adapter
    refused it, or it was about to take the wrong transport: not sent).
    Raises :class:`BerichtenboxUnavailable` when the adapter cannot be reached."""
    if not batch_store.lock_for_sending(conn, batch_id):
        conn.commit()
        return "locked"
    try:
        row = batch_store.batch(conn, batch_id)
        if row is None:
            conn.commit()
            return "missing"
        if row["status"] != "planned":
            conn.commit()
            return "cancelled" if row["status"] == "cancelled" else "already_sent"
        if row["cancel_requested_at"] is not None:  # the tenant cancelled: never send it
            cancel_store.cancel_batch(conn, row)
            conn.commit()
            return "cancelled"
        built = build(conn, row, standard_sets=standard_sets)
        if built.rejections:
            summary.messages_rejected += batch_store.reject_unsendable(conn, batch_id, built.rejections)
            log.warning("batch %s: %d message(s) rejected while building (reason in the result file)",
                        batch_id, len(built.rejections))
        conn.commit()
        if built.payload is None:
            return "nothing_left"
        hook = hooks.route(row)
        try:  # the last point before the transport: a sandbox batch never goes out live
            rules.check_transport(sandbox=row["sandbox"], transport=hook.transport, batch_id=batch_id)
        except rules.WrongTransport as exc:
            batch_store.record_send_error(conn, batch_id, str(exc))
            audit.record(conn, actor=batch_store.ACTOR, action="delivery.wrong_transport",
                         connection_id=row["connection_id"], submission_id=row["submission_id"],
                         details={"batch_id": batch_id, "sandbox": row["sandbox"], "transport": hook.transport})
            conn.commit()
            log.error("%s", exc)
            summary.refused.append(str(exc))
            return "refused"
        try:
            ebms_id = hook.send_message(
                action=ACTION_DELIVER, payload=built.payload, name=f"GLOBE-R-BV-Request-{batch_id}.xml",
                conversation_id=batch_id,
            )
        except BerichtenboxRequestError as exc:
            batch_store.record_send_error(conn, batch_id, str(exc))
            audit.record(conn, actor=batch_store.ACTOR, action="delivery.batch_refused",
                         connection_id=row["connection_id"], submission_id=row["submission_id"],
                         details={"batch_id": batch_id, "error": str(exc)})
            conn.commit()
            summary.refused.append(f"batch {batch_id}: {exc}")
            return "refused"
        except BerichtenboxUnavailable as exc:
            batch_store.record_send_error(conn, batch_id, str(exc))
            conn.commit()
            raise
        moved = batch_store.mark_sent(conn, batch_id, ebms_message_id=ebms_id, size_bytes=len(built.payload))
        conn.commit()
        summary.messages_sent += built.message_count
        summary.bytes_sent += len(built.payload)
        log.info("batch %s (submission %s, batch %s): %d messages, %.1f MB sent as %s (%d now 'sent')",
                 batch_id, row["submission_id"], row["batch_number"], built.message_count,
                 len(built.payload) / 1e6, ebms_id, moved)
        return "sent"
    except BaseException:
        conn.rollback()
        raise
    finally:
        batch_store.unlock_after_sending(conn, batch_id)
        conn.commit()


def send_batches(batch_ids: Sequence[str], *, hooks: Hooks | None = None, url: str | None = None,
                 after_each: Callable[[str, str], None] | None = None) -> SendSummary:
    """Send the batches that still need it, in order. Stops at the first
    :class:`BerichtenboxUnavailable` (raised: the task's retry continues where this
    stopped); batches the adapter refuses are recorded and reported in the summary."""
    hooks = hooks or Hooks()
    summary = SendSummary()
    standard_sets = StandardSets()
    started = time.monotonic()
    with db.connect(url) as conn:
        for batch_id in batch_ids:
            what = send_batch(conn, hooks, str(batch_id), standard_sets=standard_sets, summary=summary)
            summary.outcomes[what] += 1
            if after_each is not None:
                after_each(str(batch_id), what)
    summary.seconds = time.monotonic() - started
    return summary
