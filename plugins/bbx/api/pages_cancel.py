"""The cancel button of the submission page (issue 18): cancels what has not gone yet and
returns to the page with the counts (the pages' shared parts are :mod:`bbx.api.pages`)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from bbx.api import pages, service
from bbx.api.auth import ConnDep
from bbx.api.errors import ApiError
from bbx.delivery import control
from bbx.store.cancel import NotCancellable

router = APIRouter()


@router.post("/submissions/{submission_id}/cancel", response_class=HTMLResponse)
async def cancel_page(submission_id: int, request: Request, conn: ConnDep):
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
