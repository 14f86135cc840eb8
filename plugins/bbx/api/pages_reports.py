"""The BSN lookup and the reports pages (the pages' shared parts are :mod:`bbx.api.pages`)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from bbx.api import charts, service
from bbx.api.auth import ConnDep
from bbx.api.errors import ApiError
from bbx.api.pages import SignInRequired, _principal, _render, _same_origin, sign_in_redirect
from bbx.domain import bsn as bsn_rules
from bbx.domain.outcomes import Outcome
from bbx.i18n import _
from bbx.store import population, register, reports

router = APIRouter(include_in_schema=False)


# --------------------------------------------------------------------------- BSN lookup


@router.get("/lookup", response_class=HTMLResponse)
def lookup_form(request: Request, conn: ConnDep):
    principal = _principal(request, conn, personal=True)
    return _render(request, "lookup.html", principal, connections=service.visible_connections(conn, principal),
                   result=None, error=None, values={})


@router.post("/lookup", response_class=HTMLResponse)
async def lookup_bsn(request: Request, conn: ConnDep):
    _same_origin(request)
    form = await request.form()
    values = {"bsn": str(form.get("bsn", "")), "connection": str(form.get("connection", ""))}

    def work():
        principal = _principal(request, conn, method="POST", personal=True)
        connections = service.visible_connections(conn, principal)
        try:
            result = service.lookup_bsn(conn, principal, values["bsn"],
                                        [values["connection"]] if values["connection"] else None)
        except ApiError as exc:
            return _render(request, "lookup.html", principal, status_code=exc.status, connections=connections,
                           result=None, error=exc, values=values)
        conn.commit()
        return _render(request, "lookup.html", principal, connections=connections, result=result, error=None,
                       values=values, masked=bsn_rules.mask(result["bsn"]))

    try:
        return await run_in_threadpool(work)
    except SignInRequired as exc:
        return sign_in_redirect(request, exc)


# --------------------------------------------------------------------------- reports


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, conn: ConnDep, connection: str = "", start: date | None = None,
                 end: date | None = None, on: date | None = None):
    principal = _principal(request, conn)
    connections = service.visible_connections(conn, principal)
    default_start, default_end = service.default_period()
    start, end, on = start or default_start, end or default_end, on or service.today()
    context = {"connections": connections, "connection": connection, "start": start, "end": end, "on": on,
               "error": None, "report": None}
    if not connection and connections:
        connection = context["connection"] = connections[0]["code"]
    if connection:
        try:
            row = service.connection_for(conn, principal, connection)
            service.check_period(start, end)
            sent = reports.sent_per_message_type(conn, row["id"], start, end)
            undelivered = reports.undelivered_per_message_type(conn, row["id"], start, end)
            subscribed = register.subscribed_on(conn, row["id"], on)
            changes = register.changes(conn, row["id"], start, end)
            people = population.current(conn, row["id"])  # issue 16: split by the population
            split = population.changes_split(conn, row["id"], start, end) if people else None
            sent_series = (_("delivered"), _("not subscribed"), _("failed"), _("awaiting result"))
            context["report"] = {
                "connection": row, "sent": sent, "undelivered": undelivered,
                "subscribed": subscribed["count"], "changes": changes, "population": people, "split": split,
                "sent_chart": charts.stacked_bars(
                    _("Messages sent per message type, {start} to {end}", start=start, end=end),
                    [(f"{r['message_type']} {r['name']}", [r["delivered"], r["not_subscribed"], r["failed"],
                                                          r["awaiting_result"]]) for r in sent],
                    sent_series, [charts.OUTCOME_COLOURS[o] for o in ("delivered", "not_subscribed", "failed", "sent")]),
                "undelivered_chart": charts.stacked_bars(
                    _("Messages not delivered per message type, {start} to {end}", start=start, end=end),
                    _undelivered_bars(undelivered), (_("rejected"), _("not subscribed"), _("failed")),
                    [charts.OUTCOME_COLOURS[o] for o in ("rejected", "not_subscribed", "failed")]),
                "changes_chart": charts.stacked_bars(
                    _("Register changes, {start} to {end}", start=start, end=end),
                    [(_("sign-ups"), [changes["signups"], 0]), (_("sign-offs"), [0, changes["signoffs"]])],
                    (_("sign-ups"), _("sign-offs"))),
            }
        except ApiError as exc:
            context["error"] = exc
    return _render(request, "reports.html", principal, **context)


def _undelivered_bars(rows: list[dict]) -> list[tuple[str, list[int]]]:
    per_type: dict[str, list[int]] = {}
    index = {Outcome.REJECTED: 0, Outcome.NOT_SUBSCRIBED: 1, Outcome.FAILED: 2}
    for r in rows:
        per_type.setdefault(f"{r['message_type']} {r['name']}", [0, 0, 0])[index[r["outcome"]]] += r["messages"]
    return list(per_type.items())
