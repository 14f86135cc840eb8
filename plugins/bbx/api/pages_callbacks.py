"""The callbacks page of a connection (issue 18): its callback URL, the posts BBX gave up
on and those still being retried, with an audited "retry now" (a tenant user of that
tenant or an operator; auditors read only; another tenant's connection is a 404). Retry
now queues the post for the deliverer and answers at once (a hanging receiver never
holds up the page)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from bbx.api import callbacks as callback_api
from bbx.api import service
from bbx.api.auth import ConnDep
from bbx.api.errors import ApiError
from bbx.api.pages import _principal, _render, _same_origin, base
from bbx.domain import callbacks as rules
from bbx.i18n import _
from bbx.store import callbacks as store

router = APIRouter(include_in_schema=False)
RESULTS = ("queued",)


def result_text(result: str) -> str:
    return {"queued": _("Queued: BBX posts it again within a minute. Reload this page to see its state: gone from "
                        "the list when the receiver accepted it, back as failed or retrying when it refused.")}[result]


@router.get("/connections/{code}/callbacks", response_class=HTMLResponse)
def callbacks_page(code: str, request: Request, conn: ConnDep, retried: int | None = None, result: str = ""):
    principal = _principal(request, conn)
    try:
        row = service.connection_for(conn, principal, code)
    except ApiError as exc:
        return _render(request, "error.html", principal, status_code=404, error=exc)
    answer = {"id": retried, "text": result_text(result)} if retried is not None and result in RESULTS else None
    return _render(request, "callbacks.html", principal, connection=row, endpoint=store.endpoint(conn, row["id"]),
                   events=store.failed_deliveries(conn, row["id"], retrying=True), answer=answer,
                   pending=store.pending_count(conn, row["id"]), max_attempts=rules.MAX_ATTEMPTS)


@router.post("/connections/{code}/callbacks/{event_id}/retry", response_class=HTMLResponse)
def retry_page(code: str, event_id: int, request: Request, conn: ConnDep):
    _same_origin(request)
    principal = _principal(request, conn, method="POST")
    try:
        if principal.is_auditor:
            raise ApiError(403, "auditor_read_only", _("Auditors see failed callbacks; retrying them is for "
                                                       "tenant users and operators."))
        row = service.connection_for(conn, principal, code)
        result = callback_api.retry(conn, principal, row, event_id)
    except ApiError as exc:
        return _render(request, "error.html", principal, status_code=exc.status, error=exc)
    query = urlencode({"retried": event_id, "result": result})
    return RedirectResponse(f"{base(request)}/connections/{code}/callbacks?{query}", status_code=303)
