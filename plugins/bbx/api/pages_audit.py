"""The audit page: who did what, when, with what outcome (filters, pages, CSV export).

Operators and auditors see every tenant's entries; a tenant user sees their own tenant's
(bbx.api.audit_views decides). Read-only for everyone: the log cannot be changed."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bbx import i18n
from bbx.api import audit_views, csvout
from bbx.api.auth import ConnDep
from bbx.api.errors import ApiError
from bbx.api.pages import TEMPLATES, _principal, _render
from bbx.store import audit

TEMPLATES.env.globals.setdefault("_", i18n._)  # bbx.i18n's Jinja2 set-up installs the same
router = APIRouter(include_in_schema=False)


def _query(request: Request) -> dict:
    keys = ("tenant", "actor", "action", "outcome", "since", "until")
    return {k: request.query_params.get(k, "").strip() for k in keys}


def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "invalid_date", i18n._("{value} is not a date (YYYY-MM-DD).", value=text),
                       field=field) from None


def _filters(conn, principal, values: dict) -> audit.Filters:
    return audit_views.filters_for(
        conn, principal, tenant=values["tenant"] or None, actor=values["actor"], action=values["action"],
        outcome=values["outcome"] or None, since=_day(values["since"], "since"), until=_day(values["until"], "until"))


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, conn: ConnDep, before: int | None = None):
    principal = _principal(request, conn)
    values = _query(request)
    entries, error = [], None
    try:
        filters = _filters(conn, principal, values)
        entries = audit.search(conn, filters, before_id=before, limit=audit_views.PAGE_SIZE)
    except ApiError as exc:
        error = exc
    query = {k: v for k, v in values.items() if v}
    more = len(entries) == audit_views.PAGE_SIZE
    return _render(
        request, "audit.html", principal, status_code=error.status if error else 200, entries=entries,
        values=values, error=error, all_tenants=audit_views.reads_all_tenants(principal),
        tenants=audit.tenant_codes(conn) if audit_views.reads_all_tenants(principal) else [],
        next_url=f"?{urlencode({**query, 'before': entries[-1]['id']})}" if more else None,
        first_url=f"?{urlencode(query)}" if before else None, export_url=f"audit.csv?{urlencode(query)}")


@router.get("/audit.csv")
def audit_export(request: Request, conn: ConnDep):
    principal = _principal(request, conn)
    filters = _filters(conn, principal, _query(request))
    return csvout.stream_bytes(audit_views.export_chunks(filters), "audit.csv")
