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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from bbx.delivery import config
from bbx.delivery.build import BuiltBatch, StandardSets, build
from bbx.domain import delivery as rules
from bbx.domain.delivery import Route
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
    """One hook (one zeep client, one TLS session) per connection code and transport, per
    task (or per wait of the results trigger)."""

    def __init__(self, factory: HookFactory | None = None, sandbox_factory: SandboxFactory | None = None) -> None:
        backoff = config.hook_backoff()
        self._factory = factory or (lambda code: BerichtenboxHook.for_connection(code, backoff=backoff))
        self._sandbox_factory = sandbox_factory or (
            lambda cpa_id, oin: BerichtenboxHook.for_sandbox(cpa_id=cpa_id, oin=oin, backoff=backoff))
        self._hooks: dict[tuple[str, str], BerichtenboxHook] = {}

    def _kept(self, key: tuple[str, str], make: Callable[[], BerichtenboxHook]) -> BerichtenboxHook:
        hook = self._hooks.get(key)
        if hook is None:
            hook = make()
            hook.settings  # noqa: B018  the Airflow Connection is read in the caller's thread, not the sending one
            self._hooks[key] = hook
        return hook

    def __call__(self, connection_code: str) -> BerichtenboxHook:
        """The live hook of a connection."""
        return self._kept((rules.LIVE, connection_code), lambda: self._factory(connection_code))

    def route(self, route: Route) -> BerichtenboxHook:
        """The hook of ``route``'s transport: the sandbox for a sandbox submission's batches."""
        if rules.transport_for(sandbox=route.sandbox) == rules.LIVE:
            return self(route.code)
        return self._kept((rules.SANDBOX, route.code), lambda: self._sandbox_factory(route.cpa_id, route.oin))

    def forget(self, connection_code: str, *, sandbox: bool = False) -> None:
        """The next call makes a new hook: the Connection and certificates are read again."""
        self._hooks.pop((rules.transport_for(sandbox=sandbox), connection_code), None)


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


@dataclass
class _Prepared:
    """A batch locked and built, its rejections committed: ready for ``sendMessage``."""

    batch_id: str
    row: dict
    built: BuiltBatch
    hook: BerichtenboxHook


def _unlock(conn, batch_id: str) -> None:
    batch_store.unlock_after_sending(conn, batch_id)
    conn.commit()


def _prepare(conn, hooks: Hooks, batch_id: str, *, standard_sets: StandardSets,
             summary: SendSummary) -> str | _Prepared:
    """Steps 1 and 2. Returns the batch still locked when it is to be sent, else what
    happened (its lock released): ``locked`` (another process is sending it), ``missing``,
    ``already_sent``, ``cancelled`` (its submission was cancelled: its messages are,
    instead of sent), ``nothing_left`` (every message was rejected while building),
    ``refused`` (it was about to take the wrong transport: not sent)."""
    if not batch_store.lock_for_sending(conn, batch_id):
        conn.commit()
        return "locked"
    try:
        row = batch_store.batch(conn, batch_id)
        if row is None:
            what = "missing"
        elif row["status"] != "planned":
            what = "cancelled" if row["status"] == "cancelled" else "already_sent"
        elif row["cancel_requested_at"] is not None:  # the tenant cancelled: never send it
            cancel_store.cancel_batch(conn, row)
            what = "cancelled"
        else:
            built = build(conn, row, standard_sets=standard_sets)
            if built.rejections:
                summary.messages_rejected += batch_store.reject_unsendable(conn, batch_id, built.rejections)
                log.warning("batch %s: %d message(s) rejected while building (reason in the result file)",
                            batch_id, len(built.rejections))
            conn.commit()
            if built.payload is None:
                what = "nothing_left"
            else:
                hook = _checked_hook(conn, hooks, batch_id, row, summary)
                if hook is not None:
                    return _Prepared(batch_id, row, built, hook)
                what = "refused"
        conn.commit()
    except BaseException:
        conn.rollback()
        _unlock(conn, batch_id)
        raise
    _unlock(conn, batch_id)
    return what


def _checked_hook(conn, hooks: Hooks, batch_id: str, row: dict, summary: SendSummary) -> BerichtenboxHook | None:
    """The hook the batch goes through, or None when it was refused (recorded, audited):
    the last point before the transport, where a sandbox batch never goes out live
    (``rules.check_transport``)."""
    hook = hooks.route(Route.of(row))
    try:
        rules.check_transport(sandbox=row["sandbox"], transport=hook.transport, batch_id=batch_id)
    except rules.WrongTransport as exc:
        batch_store.record_send_error(conn, batch_id, str(exc))
        audit.record(conn, actor=batch_store.ACTOR, action="delivery.wrong_transport",
                     connection_id=row["connection_id"], submission_id=row["submission_id"],
                     details={"batch_id": batch_id, "sandbox": row["sandbox"], "transport": hook.transport})
        log.error("%s", exc)
        summary.refused.append(str(exc))
        return None
    return hook


def _post(prepared: _Prepared) -> str:
    """Step 3, in the sending thread: only the hook's HTTPS call, no database."""
    return prepared.hook.send_message(
        action=ACTION_DELIVER, payload=prepared.built.payload,
        name=f"GLOBE-R-BV-Request-{prepared.batch_id}.xml", conversation_id=prepared.batch_id,
    )


def _finish(conn, prepared: _Prepared, sending: Future, summary: SendSummary) -> str:
    """Step 4: record the adapter's answer to ``sending`` and release the lock. Returns
    ``sent`` or ``refused``; raises :class:`BerichtenboxUnavailable`."""
    batch_id, row, built = prepared.batch_id, prepared.row, prepared.built
    try:
        try:
            ebms_id = sending.result()
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
    except BaseException:
        conn.rollback()
        raise
    finally:
        _unlock(conn, batch_id)
    summary.messages_sent += built.message_count
    summary.bytes_sent += len(built.payload)
    log.info("batch %s (submission %s, batch %s): %d messages, %.1f MB sent as %s (%d now 'sent')",
             batch_id, row["submission_id"], row["batch_number"], built.message_count,
             len(built.payload) / 1e6, ebms_id, moved)
    return "sent"


def send_each(conn, hooks: Hooks, batch_ids: Iterable[str], *, standard_sets: StandardSets,
              summary: SendSummary, after_each: Callable[[str, str], None] | None = None) -> None:
    """Send the batches that still need it, in order, counting each outcome in
    ``summary.outcomes`` (``sent``, ``refused`` or one of :func:`_prepare`'s).

    Pipelined: batch N+1 is locked and built here while a thread waits for the
    adapter's answer to batch N. One ``sendMessage`` is in flight at a time, so the
    Airflow pool's slots stay the cap on concurrent calls to the adapter. Stops at the
    first :class:`BerichtenboxUnavailable` (raised; a batch built but not yet posted stays
    ``planned`` and unlocked, for the retry)."""

    def done(batch_id: str, what: str) -> None:
        summary.outcomes[what] += 1
        if after_each is not None:
            after_each(batch_id, what)

    in_flight: tuple[_Prepared, Future] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bbx-sendMessage") as adapter:
        try:
            for batch_id in map(str, batch_ids):
                if in_flight is not None and in_flight[0].batch_id == batch_id:
                    # listed twice: our own lock would not stop a second send, its answer does
                    previous, in_flight = in_flight, None
                    done(batch_id, _finish(conn, *previous, summary))
                step = _prepare(conn, hooks, batch_id, standard_sets=standard_sets, summary=summary)
                if in_flight is not None:
                    previous, in_flight = in_flight, None
                    try:
                        done(previous[0].batch_id, _finish(conn, *previous, summary))
                    except BaseException:
                        if isinstance(step, _Prepared):
                            _unlock(conn, step.batch_id)
                        raise
                if isinstance(step, _Prepared):
                    in_flight = (step, adapter.submit(_post, step))
                else:
                    done(batch_id, step)
            if in_flight is not None:
                previous, in_flight = in_flight, None
                done(previous[0].batch_id, _finish(conn, *previous, summary))
        finally:
            if in_flight is not None:
                # building the next batch failed while this one was at the adapter: record
                # its answer (sent, or why not) before the first error goes up
                try:
                    _finish(conn, *in_flight, summary)
                except Exception:
                    log.exception("batch %s: recording the adapter's answer failed; it stays planned "
                                  "and is sent again with the same ids", in_flight[0].batch_id)


def send_batches(batch_ids: Sequence[str], *, hooks: Hooks | None = None, url: str | None = None,
                 after_each: Callable[[str, str], None] | None = None) -> SendSummary:
    """Send the batches that still need it, in order (:func:`send_each`). Stops at the
    first :class:`BerichtenboxUnavailable` (raised: the task's retry continues where this
    stopped); batches the adapter refuses are recorded and reported in the summary."""
    hooks = hooks or Hooks()
    summary = SendSummary()
    started = time.monotonic()
    with db.connect(url) as conn:
        send_each(conn, hooks, batch_ids, standard_sets=StandardSets(), summary=summary, after_each=after_each)
    summary.seconds = time.monotonic() - started
    return summary
