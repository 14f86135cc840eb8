"""Refresh one connection's register for one day: ask, collect the answer, apply.

Three steps, each safe to run again (Airflow retries, cleared tasks, backfills):

1. :func:`request_refresh` — record the refresh of the day and send ``GLOBE-R-A-Request``
   (the full list the first time, else the changes since the last applied PeilDatum).
   A day that is applied already is not asked again: rerunning a day changes nothing.
2. :func:`collect_answers` — read ``GLOBE-R-A-Result`` messages from the adapter, store
   each (gzip, as received) with the refresh that asked for it, then acknowledge it
   (processMessage). Polled by a reschedule-mode sensor: no worker slot is held while
   MijnOverheid takes its hours.
3. :func:`apply_refresh` — stream the stored answer into the register in one
   transaction (``bbx.store.register_refresh.apply_answer``).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

from bbx.domain import register as rules
from bbx.domain.subscription import (
    SubscriptionAnswerError,
    build_subscription_request,
    iter_subscription_answer,
)
from bbx.store import administration, db
from bbx.store import register as store
from bbx.store import register_refresh as refresh_store

log = logging.getLogger(__name__)

REQUEST_NAME = "AbonnementAanvraag.xml"


class RefreshFailed(RuntimeError):
    """The refresh cannot succeed by retrying (a refused request, a broken answer);
    the message says what happened and what to do."""


@dataclass(frozen=True)
class RefreshState:
    connection: str
    day: date
    refresh_id: int | None
    status: str  # requested | answered | applied | failed | none
    kind: str | None = None
    detail: str = ""

    def as_dict(self) -> dict:
        return {"connection": self.connection, "day": self.day.isoformat(), "refresh_id": self.refresh_id,
                "status": self.status, "kind": self.kind, "detail": self.detail}


def _hook(connection_code: str):
    from bbx.hooks.berichtenbox import BerichtenboxHook

    return BerichtenboxHook.for_connection(connection_code)


def _connection(conn, connection_code: str) -> dict:
    connection = administration.connection_by_code(conn, connection_code)
    if connection is None:
        raise RefreshFailed(f"unknown connection {connection_code!r}: apply the tenant configuration first")
    return connection


def request_refresh(connection_code: str, day: date, *, force_full: bool = False, hook=None,
                    now: datetime | None = None) -> RefreshState:
    """Make sure the subscription list for ``day`` has been asked for (once)."""
    from bbx.hooks.berichtenbox import ACTION_SUBSCRIPTIONS, BerichtenboxRequestError

    now = now or datetime.now(UTC)
    with db.transaction() as conn:
        connection = _connection(conn, connection_code)
        refresh = refresh_store.refresh_for(conn, connection["id"], day)
        # `full` re-asks a day that was refreshed with a change list (a rebuild on the
        # same day); a day that already has a full list is not asked again (retries)
        rebuild = force_full and refresh is not None and refresh["kind"] != rules.FULL
        ask = refresh is None or rebuild
        if not ask:
            if refresh["status"] in ("answered", "applied"):
                return RefreshState(connection_code, day, refresh["id"], refresh["status"], refresh["kind"],
                                    "nothing to ask: already " + refresh["status"])
            sent = refresh["request_message_id"] is not None
            if refresh["status"] == "requested" and not rules.ask_again("requested", sent, refresh["requested_at"], now):
                if sent:
                    return RefreshState(connection_code, day, refresh["id"], "requested", refresh["kind"],
                                        f"waiting for the answer to {refresh['request_message_id']}")
                # recorded but never sent (a crash in between): send the same request
            else:
                ask = True  # failed, or no answer within ANSWER_TIMEOUT: ask again
        if ask:
            attempt = refresh["attempt"] + 1 if refresh is not None else 1
            plan = rules.plan_request(connection_code, day, refresh_store.latest_snapshot(conn, connection["id"]),
                                      force_full=force_full, attempt=attempt)
            refresh = refresh_store.start_refresh(conn, connection["id"], day, plan, attempt=attempt, reopen=rebuild)
    payload = build_subscription_request(connection["oin"], str(refresh["request_id"]), since=refresh["since"])
    hook = hook or _hook(connection_code)
    try:
        message_id = hook.send_message(action=ACTION_SUBSCRIPTIONS, payload=payload, name=REQUEST_NAME,
                                       conversation_id=str(refresh["request_id"]))
    except BerichtenboxRequestError as exc:
        with db.transaction() as conn:
            refresh_store.fail_refresh(conn, refresh["id"], f"the adapter refused the request: {exc}")
        raise RefreshFailed(
            f"{connection_code}: the subscription request for {day} was refused ({exc}); check the "
            f"connection's Airflow Connection berichtenbox_{connection_code} and the CPA"
        ) from None
    with db.transaction() as conn:
        refresh_store.mark_sent(conn, refresh["id"], message_id)
    since = refresh["since"].isoformat() if refresh["since"] else "-"
    log.info("%s %s: asked for the %s list (since %s), VerzoekId %s, ebMS %s",
             connection_code, day, refresh["kind"], since, refresh["request_id"], message_id)
    return RefreshState(connection_code, day, refresh["id"], "requested", refresh["kind"],
                        f"asked (attempt {refresh['attempt']}), ebMS message {message_id}")


def collect_answers(connection_code: str, *, hook=None, max_messages: int = 100) -> dict[str, int]:
    """Store every subscription answer the adapter holds for this connection, then
    acknowledge it. Returns counts per outcome (stored, duplicate, unknown, incomplete)."""
    from bbx.hooks.berichtenbox import ACTION_SUBSCRIPTIONS_RESULT

    hook = hook or _hook(connection_code)
    counts = {"stored": 0, "duplicate": 0, "unknown": 0, "incomplete": 0}
    with db.connect() as conn:
        connection_id = _connection(conn, connection_code)["id"]
    for message_id in hook.unprocessed_message_ids(action=ACTION_SUBSCRIPTIONS_RESULT, max_nr=max_messages):
        message = hook.get_message(message_id)
        content = next((s.content for s in message.data_sources if s.content), None)
        if content is None:
            counts["incomplete"] += 1  # not filled in yet: look again at the next poke
            continue
        try:
            request_id = iter_subscription_answer(io.BytesIO(content))[0].request_id
        except SubscriptionAnswerError:
            request_id = None  # unreadable: placed by refToMessageId; applying it will fail loudly
        with db.transaction() as conn:
            outcome = refresh_store.store_answer(conn, connection_id=connection_id, request_id=request_id,
                                                 ref_to_message_id=message.ref_to_message_id,
                                                 ebms_message_id=message_id, content=content)
        hook.mark_processed(message_id)
        counts[outcome] += 1
        log.info("%s: subscription answer %s (%d bytes): %s", connection_code, message_id, len(content), outcome)
    return counts


def refresh_state(connection_code: str, day: date) -> RefreshState:
    with db.connect() as conn:
        connection = _connection(conn, connection_code)
        refresh = refresh_store.refresh_for(conn, connection["id"], day)
    if refresh is None:
        return RefreshState(connection_code, day, None, "none")
    return RefreshState(connection_code, day, refresh["id"], refresh["status"], refresh["kind"],
                        refresh["error"] or refresh["note"] or "")


def answer_ready(connection_code: str, day: date, *, hook=None) -> bool:
    """One poke: collect answers, then say whether the day's refresh has its answer."""
    state = refresh_state(connection_code, day)
    if state.status in ("answered", "applied"):
        return True
    if state.status == "failed":
        raise RefreshFailed(f"{connection_code} {day}: the refresh failed: {state.detail}")
    if state.status == "none":
        raise RefreshFailed(f"{connection_code} {day}: no refresh was requested; run the request task first")
    collect_answers(connection_code, hook=hook)
    return refresh_state(connection_code, day).status in ("answered", "applied")


def apply_refresh(connection_code: str, day: date) -> refresh_store.ApplyResult:
    """Apply the stored answer of the day's refresh (one transaction)."""
    state = refresh_state(connection_code, day)
    if state.refresh_id is None:
        raise RefreshFailed(f"{connection_code} {day}: no refresh was requested")
    with db.connect() as conn:
        try:
            result = refresh_store.apply_answer(conn, state.refresh_id)
        except (SubscriptionAnswerError, rules.RegisterError) as exc:
            raise RefreshFailed(
                f"{connection_code} {day}: the answer was not applied ({exc}); the register is "
                "unchanged. Rerun the day's refresh (clear the request task) to ask again."
            ) from None
    log.info("%s %s: %s — %d entries, %d periods opened, %d closed, %d conflicts",
             connection_code, day, result.outcome, result.entries, result.opened, result.closed, result.conflicts)
    return result


def check_fresh(connection_code: str, now: datetime | None = None) -> dict:
    """Flag a stale register for operators; returns ``{stale, blocked}`` (texts or None)."""
    with db.transaction() as conn:
        connection_id = _connection(conn, connection_code)["id"]
        flag = store.flag_stale(conn, connection_id, now)
        blocked = store.bulk_send_blocked(conn, connection_id, now)
    return {"stale": flag["reason"] if flag else None, "blocked": blocked}
