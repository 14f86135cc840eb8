"""Who may read which audit entries, and the filters and CSV of the audit page, API and CLI.

Operators and auditors read every tenant's entries; a tenant user reads only the entries
of their own tenant (the database fills ``tenant_id`` from the connection or submission,
so an entry about a tenant's submission is theirs). :func:`is_auditor` is the one check
of the auditor role: the access work points it at the new role.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta

from bbx.api.auth import Principal
from bbx.api.errors import ApiError
from bbx.domain import csvfile
from bbx.domain.localtime import TIMEZONE
from bbx.i18n import _
from bbx.store import audit

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
CSV_COLUMNS = ("id", "seq", "time", "actor", "action", "outcome", "reason", "tenant", "connection",
               "submission", "details")


def is_auditor(principal: Principal) -> bool:
    """Read-only access to the whole audit log (no personal content is in it)."""
    return principal.is_auditor


def reads_all_tenants(principal: Principal) -> bool:
    return principal.is_operator or is_auditor(principal)


def day_start(day: date) -> datetime:
    """The first moment of a Dutch calendar day."""
    return datetime.combine(day, time(0), tzinfo=TIMEZONE)


def filters_for(conn, principal: Principal, *, tenant: str | None = None, actor: str | None = None,
                action: str | None = None, outcome: str | None = None, since: date | None = None,
                until: date | None = None) -> audit.Filters:
    """The filters a person asked for, narrowed to what they may read. Days are Dutch
    calendar days; both ends are included."""
    if since and until and until < since:
        raise ApiError(422, "invalid_period", _("The period ends ({end}) before it starts ({start}).",
                                                end=until, start=since))
    if outcome and outcome not in (audit.OK, audit.REFUSED):
        raise ApiError(422, "invalid_outcome", _("Outcome is 'ok' or 'refused'."))
    tenant_id = None
    if reads_all_tenants(principal):
        if tenant:
            tenant_id = audit.tenant_id_of(conn, tenant)
            if tenant_id is None:
                raise ApiError(404, "unknown_tenant", _("There is no tenant {code}.", code=tenant))
    else:
        if principal.tenant_id is None:
            raise ApiError(403, "forbidden", _("This account may not read the audit log."))
        if tenant and tenant != principal.tenant_code:
            raise ApiError(404, "unknown_tenant", _("There is no tenant {code}.", code=tenant))
        tenant_id = principal.tenant_id
    return audit.Filters(
        tenant_id=tenant_id, actor=(actor or "").strip() or None, action=(action or "").strip() or None,
        outcome=outcome or None, since=day_start(since) if since else None,
        until=day_start(until + timedelta(days=1)) if until else None)


def local_time(moment: datetime) -> str:
    return moment.astimezone(TIMEZONE).isoformat(timespec="seconds")


def entry_json(row: dict) -> dict:
    return {
        "id": row["id"], "seq": row["seq"], "at": local_time(row["at"]), "actor": row["actor"],
        "action": row["action"], "outcome": row["outcome"], "reason": row["reason"], "tenant": row["tenant"],
        "connection": row["connection"], "submission_id": row["submission_id"],
        "details": json.loads(row["details"]),
    }


def _csv_rows(rows: Iterable[dict]) -> Iterator[list]:
    for r in rows:
        yield [r["id"], r["seq"], local_time(r["at"]), r["actor"], r["action"], r["outcome"], r["reason"],
               r["tenant"], r["connection"], r["submission_id"], r["details"]]


def csv_chunks(rows: Iterable[dict]) -> Iterator[bytes]:
    """The entries as a CSV file in BBX's outbox dialect (formula-safe, ``;``, BOM)."""
    return csvfile.chunks(_csv_rows(rows), CSV_COLUMNS)


def export_chunks(filters: audit.Filters) -> Iterator[bytes]:
    """A streamed CSV export: its own connection, since the response outlives the request's."""
    from bbx.store import db

    with db.connect() as conn:
        yield from csv_chunks(audit.stream(conn, filters))


def hand_in_refused(conn, principal: Principal, connection: dict, channel: str, exc: ApiError) -> None:
    """A hand-in through the web service or the send page that was refused as a whole
    (nothing was created): who tried, on which connection, and the problems' codes.
    Written in its own transaction: the caller has rolled back the refused work."""
    problems = getattr(exc, "problems", None) or [exc]
    from bbx.store import db

    with db.unit(conn):
        audit.refused(conn, actor=principal.actor, action="submission.refused", connection_id=connection["id"],
                      reason=f"{exc.code}: {exc.message}"[:500],
                      details={"channel": channel, "problems": sorted({p.code for p in problems})})

