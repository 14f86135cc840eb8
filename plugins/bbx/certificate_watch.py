"""The daily certificate watch (DAG ``bbx_certificate_watch``): every active
connection's ``berichtenbox`` client certificate and trust chain, checked as the hook
checks them at start-up (bbx.hooks.certificates.check) plus their end dates: a warning
30 days before, a failure 7 days before (and for anything unusable)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

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

    from bbx.store import administration, db

    with db.connect() as conn:
        codes = [c["code"] for c in administration.active_connections(conn)]
    result = watch(codes)
    if result.failures:
        raise AirflowFailException(
            "client certificates need attention now: "
            + "; ".join(f"{code}: {', '.join(found)}" for code, found in result.failures.items()))
    return result.as_dict()
