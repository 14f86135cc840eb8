"""Pages: control over a send (issue 18) — the cancel button on the submission page, the
progress bar's figures, and what the manual page says before and after a send ("N will be
sent, M not subscribed"; a confirmation above a configurable number of messages).

Kept apart from ``pages.py`` (which is at its size limit); the page helpers come from there.
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from bbx.api import service
from bbx.api.auth import ConnDep
from bbx.api.errors import ApiError
from bbx.delivery import control
from bbx.i18n import _
from bbx.store import lookup, register
from bbx.store import progress as progress_store
from bbx.store.cancel import NotCancellable

router = APIRouter()

CONFIRM_ABOVE_DEFAULT = 100


def confirm_above() -> int:
    """A manual send of more than this many messages asks for confirmation first
    (``BBX_MANUAL_CONFIRM_ABOVE``; 0: always ask)."""
    try:
        return max(int(os.environ.get("BBX_MANUAL_CONFIRM_ABOVE", CONFIRM_ABOVE_DEFAULT)), 0)
    except ValueError:
        return CONFIRM_ABOVE_DEFAULT


def forecast(conn, connection_id: int, bsns: list[str]) -> dict:
    """Before a manual send: how many of ``bsns`` BBX's register has subscribed today."""
    today = service.today()
    subscribed = sum(register.is_subscribed(conn, connection_id, b, today) for b in bsns)
    return {"will_send": subscribed, "not_subscribed": len(bsns) - subscribed}


def forecast_text(f: dict) -> str:
    return _("{will_send} will be sent, {not_subscribed} not subscribed (BBX's register today: not subscribed "
             "means not sent).", will_send=f["will_send"], not_subscribed=f["not_subscribed"])


def submission_forecast(conn, status: dict) -> dict:
    """After a manual send: what will go, by the register today plus what is already decided."""
    sub = lookup.submission(conn, status["id"])
    f = progress_store.register_forecast(conn, sub["id"], sub["connection_id"], service.today())
    counts = status["counts"]
    return {"will_send": f["will_send"] + sum(counts[o] for o in ("queued", "sent", "delivered", "failed")),
            "not_subscribed": f["not_subscribed"] + counts["not_subscribed"], "rejected": counts["rejected"]}


def cancellable(status: dict) -> bool:
    return status["status"] in ("accepted", "delivering") and any(
        status["counts"][o] for o in ("planned", "queued"))


@router.post("/submissions/{submission_id}/cancel", response_class=HTMLResponse)
async def cancel_page(submission_id: int, request: Request, conn: ConnDep):
    from bbx.api import pages  # pages imports this module

    pages._same_origin(request)

    def work():
        principal = pages._principal(request, conn, method="POST")
        try:
            sub = service.submission_for(conn, principal, submission_id)
        except ApiError as exc:
            return pages._render(request, "error.html", principal, status_code=404, error=exc)
        conn.commit()
        try:
            result = control.cancel(sub["id"], actor=principal.actor, conn=conn)
        except NotCancellable as exc:
            return pages._render(request, "error.html", principal, status_code=409,
                                 error=ApiError(409, "not_cancellable", str(exc)))
        query = urlencode({"cancelled": result.cancelled, "not_cancelled": result.not_cancelled})
        return RedirectResponse(f"{pages.base(request)}/submissions/{submission_id}?{query}", status_code=303)

    try:
        return await run_in_threadpool(work)
    except pages.SignInRequired as exc:
        return pages.sign_in_redirect(request, exc)
