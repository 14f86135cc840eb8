"""Collecting ``GLOBE-R-BV-Result`` messages, closing submissions, writing result files.

Per inbound message, in this order, so a crash never loses a result:
``getUnprocessedMessageIds`` → ``getMessage`` → record (outcomes + the result's ebMS id,
one transaction, committed) → ``processMessage``. A crash after the commit and before
``processMessage`` makes the adapter hand the message out again; BBX recognises its
ebMS id and only acknowledges it. A duplicate result (a new ebMS id, the same payload)
finds its messages final already and changes nothing.

Results are read per connection and transport: the live adapter, and the sandbox
endpoint for sandbox submissions (*test* API keys); a sandbox result only ever applies
to sandbox messages. After the results of a connection: resend batches
(TechnischProbleem) are sent, the submissions whose counts add up are closed, and each
closed submission's result file and undeliverable list go to the tenant's outbox.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from airflow.sdk.exceptions import AirflowNotFoundException

from bbx.delivery import config
from bbx.delivery.build import StandardSets
from bbx.delivery.send import Hooks, SendSummary, send_each
from bbx.domain import delivery as rules
from bbx.domain import globe
from bbx.domain.delivery import Route
from bbx.hooks.berichtenbox import ACTION_DELIVERY_RESULT, BerichtenboxConfigError
from bbx.i18n import language
from bbx.store import batches as batch_store
from bbx.store import db, submissions
from bbx.store import result_files as result_file_store
from bbx.store import results as result_store
from bbx.store import waiting as waiting_store

log = logging.getLogger(__name__)

# (submission row with sftp_folder, [(file name, CSV chunks)]) -> paths written
OutboxWriter = Callable[[dict, list[tuple[str, Iterable[bytes]]]], list[str]]


@dataclass
class CollectSummary:
    results: int = 0  # inbound result messages recorded now
    acknowledged_again: int = 0  # recorded before a crash, acknowledged now
    unknown_batches: int = 0
    unreadable: int = 0
    outcomes: Counter = field(default_factory=Counter)
    resent_messages: int = 0
    resend_batches_sent: int = 0
    ignored_lines: int = 0
    closed: list[int] = field(default_factory=list)
    reported: list[int] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)
    skipped_connections: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "results": self.results, "acknowledged_again": self.acknowledged_again,
            "unknown_batches": self.unknown_batches, "unreadable": self.unreadable,
            "outcomes": dict(self.outcomes), "resent_messages": self.resent_messages,
            "resend_batches_sent": self.resend_batches_sent, "ignored_lines": self.ignored_lines,
            "closed": self.closed, "reported": self.reported, "attention": self.attention,
            "skipped_connections": self.skipped_connections, "seconds": round(self.seconds, 3),
        }


def _payload(message) -> bytes:
    content = message.data_sources[0].content if message.data_sources else b""
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    return content


@dataclass
class _Fetched:
    """An inbound message, fetched and read (without touching the database)."""

    message: object
    payload: bytes = b""
    sha256: str = ""
    result: globe.BatchResult | None = None
    problem: globe.ResultParseError | None = None


def _fetch(hook, ebms_id: str) -> _Fetched:
    message = hook.get_message(ebms_id)  # process=False: the adapter keeps it until processMessage
    if message.action != ACTION_DELIVERY_RESULT:
        return _Fetched(message)
    payload = _payload(message)
    fetched = _Fetched(message, payload, hashlib.sha256(payload).hexdigest())
    try:
        fetched.result = globe.parse_batch_result(payload)
    except globe.ResultParseError as exc:
        fetched.problem = exc
    return fetched


def collect_connection(conn, hook, connection: dict, summary: CollectSummary, *,
                       max_attempts: int = config.MAX_SEND_ATTEMPTS,
                       fetch_size: int = config.RESULT_FETCH_SIZE) -> None:
    """Read every waiting result of one connection (see the module docstring). A result for
    a batch of the other transport (a sandbox that shares the live adapter's queue) is left
    unprocessed for its own reader.

    The adapter's round trips and the XML are off the critical path: while one result is
    recorded, a thread fetches and parses the next (getMessage changes nothing at the
    adapter) and sends processMessage for the one before, which was committed already; its
    ``processed_at`` follows once that call returned. The thread never uses the database."""
    sandbox = connection.get("sandbox", False)
    left: set[str] = set()
    acking: list[tuple[str, Future]] = []  # processMessage on its way, at most one

    def settle() -> None:
        while acking:
            done_id, call = acking.pop()
            call.result()
            result_store.mark_result_processed(conn, done_id)
            conn.commit()

    with ThreadPoolExecutor(1, thread_name_prefix="bbx-results-fetch") as pool:
        while True:
            message_ids = hook.unprocessed_message_ids(action=ACTION_DELIVERY_RESULT, max_nr=fetch_size)
            todo = [m for m in message_ids if m not in left]
            ahead: dict[str, Future] = {}
            for position, ebms_id in enumerate(todo):
                if result_store.result_recorded(conn, ebms_id):
                    conn.commit()
                    hook.mark_processed(ebms_id)
                    result_store.mark_result_processed(conn, ebms_id)
                    conn.commit()
                    summary.acknowledged_again += 1
                    continue
                fetching = ahead.pop(ebms_id, None) or pool.submit(_fetch, hook, ebms_id)
                if position + 1 < len(todo):
                    ahead[todo[position + 1]] = pool.submit(_fetch, hook, todo[position + 1])
                fetched = fetching.result()
                if fetched.result is None and fetched.problem is None:
                    log.warning("inbound message %s is %s, not a delivery result: left for its reader",
                                ebms_id, fetched.message.action)
                    continue
                if not _record(conn, connection, ebms_id, fetched, summary, sandbox=sandbox,
                               max_attempts=max_attempts):
                    left.add(ebms_id)
                    continue
                settle()  # the one before: its processMessage ran while this one was recorded
                acking.append((ebms_id, pool.submit(hook.mark_processed, ebms_id)))  # after the commit
            settle()
            if len(message_ids) < fetch_size or left.issuperset(message_ids):
                return


def _record(conn, connection: dict, ebms_id: str, fetched: _Fetched, summary: CollectSummary, *,
            sandbox: bool, max_attempts: int) -> bool:
    """Record one fetched result (committed); False when it is for the other transport's
    reader (nothing recorded)."""
    if fetched.problem is not None:
        exc = fetched.problem
        result_store.record_unreadable_result(conn, connection_id=connection["id"], ebms_message_id=ebms_id,
                                              payload=fetched.payload, payload_sha256=fetched.sha256,
                                              problem=str(exc))
        conn.commit()
        log.error("connection %s: result %s cannot be read (%s); kept for investigation",
                  connection["code"], ebms_id, exc)
        summary.unreadable += 1
        summary.attention.append(f"unreadable result {ebms_id}: {exc}")
        return True
    result = fetched.result
    if result_store.batch_is_sandbox(conn, result.batch_id) not in (None, sandbox):
        conn.commit()
        log.info("connection %s: result %s is for a %s batch: left for its reader", connection["code"],
                 ebms_id, rules.transport_for(sandbox=not sandbox))
        return False
    recorded = result_store.record_result(
        conn, connection_id=connection["id"], ebms_message_id=ebms_id, payload_sha256=fetched.sha256,
        result=result, max_attempts=max_attempts, sandbox=sandbox,
    )
    conn.commit()
    _account(recorded, connection, summary)
    return True


def _account(recorded: result_store.ResultSummary, connection: dict, summary: CollectSummary) -> None:
    if recorded.already_recorded:
        summary.acknowledged_again += 1
        return
    summary.results += 1
    if not recorded.known_batch:
        summary.unknown_batches += 1
        log.warning("connection %s: result for batch %s, which this connection never sent: ignored",
                    connection["code"], recorded.batch_id)
        return
    summary.outcomes.update(recorded.applied)
    summary.resent_messages += recorded.resent
    summary.ignored_lines += recorded.ignored
    for problem in recorded.attention:
        log.error("connection %s, batch %s: %s", connection["code"], recorded.batch_id, problem)
        summary.attention.append(f"batch {recorded.batch_id}: {problem}")
    log.info("connection %s: result for batch %s: %s%s%s", connection["code"], recorded.batch_id,
             dict(recorded.applied), f", {recorded.resent} to resend" if recorded.resent else "",
             f", {recorded.ignored} ignored" if recorded.ignored else "")


def send_resends(conn, hooks: Hooks, connection: dict, summary: CollectSummary) -> None:
    """Send the resend batches (TechnischProbleem) of a connection."""
    sends = SendSummary()
    send_each(conn, hooks, batch_store.pending_resend_batches(conn, connection["id"],
                                                              sandbox=connection.get("sandbox", False)),
              standard_sets=StandardSets(), summary=sends)
    summary.resend_batches_sent += sends.outcomes["sent"]
    for refused in sends.refused:
        summary.attention.append(refused)


def close_reconciled(conn, summary: CollectSummary, *, connection_id: int | None = None,
                     submission_ids: Sequence[int] | None = None) -> None:
    for submission_id in result_file_store.closable_submissions(conn, connection_id=connection_id,
                                                                submission_ids=submission_ids):
        if submissions.close_if_reconciled(conn, submission_id, actor=batch_store.ACTOR):
            summary.closed.append(submission_id)
            counts = submissions.outcome_counts(conn, submission_id)
            log.info("submission %s closed: %s", submission_id,
                     {k: v for k, v in counts.items() if v})
        else:
            from bbx.domain.outcomes import reconcile

            rows = submissions.rows_handed_in(conn, submission_id) or 0
            problem = reconcile(rows, submissions.outcome_counts(conn, submission_id)).explanation
            log.error("submission %s has no open messages but does not reconcile: %s", submission_id, problem)
            summary.attention.append(f"submission {submission_id}: {problem}")
    conn.commit()


def write_reports(conn, writer: OutboxWriter, summary: CollectSummary, *,
                  connection_id: int | None = None, submission_ids: Sequence[int] | None = None) -> None:
    """Result file + undeliverable list for every closed submission that has none yet."""
    for sub in result_file_store.unreported_submissions(conn, connection_id=connection_id,
                                                        submission_ids=submission_ids):
        # A later version: an outcome changed after the tenant got the file (delivery
        # evidence came late); it says which rows changed and re-issues the paper list.
        version = (sub["results_version"] or 0) + 1
        results_name, undeliverable_name = rules.result_file_names(sub["id"], sub["channel"], sub["drop_name"],
                                                                   version=version)
        with language(sub["language"]):  # headers and explanations in the connection's language
            labels = rules.outcome_labels()

            def lines(undeliverable_only: bool, sub=sub, labels=labels) -> Iterable[bytes]:
                return result_file_store.result_file_lines(conn, sub["id"], labels=labels,
                                                           timezone=rules.RESULT_TIMEZONE_NAME,
                                                           undeliverable_only=undeliverable_only)

            # PostgreSQL writes the lines; a corrected version's note is a sentence per row,
            # which stays Python's
            results_file = (rules.result_file_from_lines(lines(False)) if version == 1 else rules.result_file_rows(
                result_file_store.result_rows(conn, sub["id"], with_corrections=True), corrected=True))
            written = writer(sub, [(results_name, results_file),
                                   (undeliverable_name, rules.undeliverable_from_lines(lines(True)))])
        result_file_store.mark_results_written(conn, sub["id"], written, version=version)
        conn.commit()
        summary.reported.append(sub["id"])
        log.info("submission %s: result file and undeliverable list written, version %d (%s)", sub["id"],
                 version, ", ".join(written))


def purge_expired_result_files(*, remover=None, url: str | None = None) -> list[int]:
    """Remove result files and undeliverable lists older than the connection's retention
    from the tenants' outboxes (they hold BSNs). Returns the submissions purged."""
    if remover is None:
        from bbx.delivery.outbox import remove_from_outbox as remover
    purged = []
    with db.connect(url) as conn:
        for sub in result_file_store.results_to_purge(conn):
            names = [name for version in range(1, max(sub["results_version"] or 1, 1) + 1)
                     for name in rules.result_file_names(sub["id"], sub["channel"], sub["drop_name"],
                                                         version=version)]
            removed = remover(sub, names)
            result_file_store.mark_results_purged(conn, sub["id"], removed)
            conn.commit()
            purged.append(sub["id"])
            log.info("submission %s: result files removed after the retention period (%d file(s))",
                     sub["id"], len(removed))
    return purged


def default_writer() -> OutboxWriter:
    from bbx.delivery.outbox import write_to_outbox

    return write_to_outbox


def collect(*, connection_ids: Sequence[int] | None = None, submission_ids: Sequence[int] | None = None,
            hooks: Hooks | None = None, writer: OutboxWriter | None = None, url: str | None = None,
            max_attempts: int = config.MAX_SEND_ATTEMPTS, skip_unconfigured: bool = False) -> CollectSummary:
    """One pass: results of the connections (default: every connection with work in
    flight; with ``submission_ids``: those submissions' connections), resends, closing,
    result files. ``skip_unconfigured``: a connection without an Airflow Connection is
    reported and skipped instead of failing the pass."""
    hooks = hooks or Hooks()
    writer = writer or default_writer()
    summary = CollectSummary()
    started = time.monotonic()
    with db.connect(url) as conn:
        for connection in result_store.connections_to_poll(conn, connection_ids=connection_ids,
                                                           submission_ids=submission_ids,
                                                           recent_days=config.RESULT_POLL_RECENT_DAYS):
            try:
                hook = hooks.route(Route.of(connection))  # the live adapter, or the sandbox for sandbox submissions
                hook.settings  # noqa: B018 - resolve the Airflow Connection now (clear error)
            except (AirflowNotFoundException, BerichtenboxConfigError) as exc:
                if not skip_unconfigured:
                    raise
                log.warning("connection %s: no usable Airflow Connection %s (%s): skipped",
                            connection["code"], hook.berichtenbox_conn_id, exc)
                summary.skipped_connections.append(connection["code"])
                continue
            collect_connection(conn, hook, connection, summary, max_attempts=max_attempts)
            send_resends(conn, hooks, connection, summary)
            close_reconciled(conn, summary, connection_id=connection["id"])
        if submission_ids is not None:
            close_reconciled(conn, summary, submission_ids=submission_ids)
        write_reports(conn, writer, summary, connection_id=None,
                      submission_ids=submission_ids if connection_ids is None else None)
    summary.seconds = time.monotonic() - started
    return summary


def open_submissions(submission_ids: Sequence[int], *, url: str | None = None) -> list[dict]:
    """The submissions among ``submission_ids`` that are not closed (or not yet reported),
    with their counts, for the operator's log."""
    with db.connect(url) as conn:
        rows = waiting_store.progress(conn, submission_ids)
        unreported = {r["id"] for r in result_file_store.unreported_submissions(conn, submission_ids=submission_ids)}
    return [r for r in rows if r["status"] != "closed" or r["id"] in unreported]
