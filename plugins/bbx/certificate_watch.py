"""The daily certificate watch (DAG ``bbx_certificate_watch``): every active
connection's ``berichtenbox`` client certificate and trust chain, checked as the hook
checks them at start-up (bbx.hooks.certificates.check) plus their end dates: a warning
30 days before, a failure 7 days before (and for anything unusable). A warning leaves
the run green (logged, and shown on the status page); a failure makes it red.

Each run records its finding per connection (bbx.store.certificate_checks) before it
fails, so the BBX status page (home page, operators) shows the last finding next to each
connection without anyone reading task logs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)


@dataclass
class WatchResult:
    checked: list[str] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"checked": self.checked, "warnings": self.warnings, "failures": self.failures}


def watch(connection_codes: list[str], *, now=None) -> WatchResult:
    from bbx.hooks import certificates
    from bbx.hooks.berichtenbox import BerichtenboxHook

    result = WatchResult()
    for code in connection_codes:
        hook = BerichtenboxHook.for_connection(code)
        try:
            warned: list[str] = []
            problems = hook.certificate_problems(warned)  # expiry within 30 days comes back as a warning
            warnings, failures = certificates.expiry(hook.settings.client_cert, hook.settings.ca_cert, now=now)
        except Exception as exc:  # no such Airflow connection, incomplete settings: a failure, named
            problems, warnings, failures = [f"{type(exc).__name__}: {exc}"], [], []
        result.checked.append(code)
        if warnings:
            result.warnings[code] = warnings
            for warning in warnings:
                log.warning("%s: %s", hook.berichtenbox_conn_id, warning)
        if problems or failures:
            result.failures[code] = problems + failures
            for failure in problems + failures:
                log.error("%s: %s", hook.berichtenbox_conn_id, failure)
    return result


def run() -> dict:
    """The DAG's task: every active connection; fails the run when any connection fails."""
    from airflow.sdk.exceptions import AirflowFailException

    from bbx.store import administration, certificate_checks, db

    with db.connect() as conn:
        codes = [c["code"] for c in administration.active_connections(conn)]
    checked_at = datetime.now(UTC)
    result = watch(codes, now=checked_at)
    with db.connect() as conn, db.unit(conn):
        for code in result.checked:
            certificate_checks.record(conn, code, checked_at, result.warnings.get(code, []),
                                      result.failures.get(code, []))
    if result.failures:
        raise AirflowFailException(
            "client certificates need attention now: "
            + "; ".join(f"{code}: {', '.join(found)}" for code, found in result.failures.items()))
    return result.as_dict()


STALE_AFTER = timedelta(hours=36)  # a daily watch older than this has not been running


def status(conn, *, now: datetime | None = None) -> list[dict]:
    """Per active connection for the status page: ``level`` ('fail', 'warning', 'ok',
    'unchecked') and the findings of the last run; a last run older than ``STALE_AFTER``
    is a warning of its own (the watch itself stopped)."""
    from bbx.store import certificate_checks

    now = now or datetime.now(UTC)
    rows = []
    for row in certificate_checks.latest(conn):
        findings = [*row["failures"], *row["warnings"]]
        if row["checked_at"] is None:
            level = "unchecked"
        elif row["failures"]:
            level = "fail"
        elif row["warnings"]:
            level = "warning"
        else:
            level = "ok"
        stale = row["checked_at"] is not None and now - row["checked_at"] > STALE_AFTER
        rows.append({**row, "level": level, "findings": findings, "stale": stale})
    return rows
