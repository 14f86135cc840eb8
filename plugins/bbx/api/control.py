"""Web service: control over a send (issue 18) — cancel a submission."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from bbx.api import models, service
from bbx.api.auth import ConnDep, Principal, api_principal, no_test_key
from bbx.api.errors import ApiError
from bbx.delivery import control
from bbx.store.cancel import NotCancellable

_ERRORS = {status: {"model": models.ErrorBody} for status in (401, 403, 404, 409)}
router = APIRouter(prefix="/api/v1", responses=_ERRORS)
PrincipalDep = Annotated[Principal, Depends(api_principal)]

_CANCEL_DOC = (
    "Stops a submission that is still being sent. Every message not yet in a batch that the "
    "ebMS adapter acknowledged gets the final outcome `cancelled`; what is already with "
    "MijnOverheid cannot be recalled and goes on to its outcome (`not_cancelled` in the answer). "
    "A scheduled submission (`send_at`) that has not started is cancelled as a whole. Repeating "
    "the call is harmless (`first_request` false). 409 when the submission is still being "
    "received or was rejected as a whole."
)


def _cancel(conn, principal: Principal, submission_id: int) -> dict:
    sub = service.submission_for(conn, principal, submission_id)
    no_test_key(principal, sub)
    conn.commit()
    try:
        result = control.cancel(sub["id"], actor=principal.actor, conn=conn)
    except NotCancellable as exc:
        raise ApiError(409, "not_cancellable", str(exc)) from None
    status = service.submission_status(conn, service.submission_for(conn, principal, submission_id))
    return {**result.as_dict(), "status": status}


@router.post("/submissions/{submission_id}/cancel", response_model=models.CancelAnswer, tags=["submissions"],
             summary="Cancel a submission that is still being sent", description=_CANCEL_DOC)
async def cancel_submission(submission_id: int, principal: PrincipalDep, conn: ConnDep):
    return await run_in_threadpool(_cancel, conn, principal, submission_id)
