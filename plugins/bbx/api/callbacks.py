"""Web service: a connection's status callback (issue 18) — register, see, remove, the
failed deliveries (and those still being retried), and "retry now"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from bbx.api import models, service
from bbx.api.auth import ConnDep, Principal, api_principal, no_test_key
from bbx.api.errors import ApiError
from bbx.delivery import callbacks as deliverer
from bbx.domain import callbacks as rules
from bbx.i18n import _
from bbx.store import callbacks as store

router = APIRouter(prefix="/api/v1", responses={s: {"model": models.ErrorBody} for s in (401, 403, 404, 422)})
PrincipalDep = Annotated[Principal, Depends(api_principal)]


class CallbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"url": "https://example.nl/bbx"}]})
    url: str = Field(description="an https:// URL that accepts POSTed JSON")


class Callback(BaseModel):
    url: str | None
    registered_by: str | None = None
    configured: bool = Field(False, description="set in the tenant configuration by the operator: not changeable "
                                                "through the web service")
    secret: str | None = Field(None, description="the HMAC secret: only in the answer to PUT, shown once")
    pending: int = Field(0, description="events not yet delivered (being retried)")
    failed: int = Field(0, description="events given up on (GET .../callback/failed)")


class FailedDelivery(BaseModel):
    id: int = Field(description="the event id (the BBX-Event-Id header)")
    submission_id: int | None
    event: str
    state: str = Field(description="failed (given up on), retrying (the next try at next_attempt_at) or queued "
                                   "(due now, e.g. after retry: posted by BBX's next delivery pass, within a minute)")
    created_at: datetime
    attempts: int
    failed_at: datetime | None
    next_attempt_at: datetime | None
    last_status: int | None = Field(description="the receiver's HTTP status of the last try; null: no answer")
    last_error: str | None


class RetryAnswer(BaseModel):
    id: int
    result: str = Field(description="queued: due now; BBX's next delivery pass (within a minute) posts it — follow "
                                    "it in GET .../callback/failed?retrying=true (gone from there: delivered; "
                                    "failed again: back in the list)")


class FailedList(BaseModel):
    failed: list[FailedDelivery]


def _summary(conn, connection_id: int, secret: str | None = None) -> dict:
    ep = store.endpoint(conn, connection_id)
    return {"url": ep["url"] if ep else None, "registered_by": ep["registered_by"] if ep else None, "secret": secret,
            "configured": bool(ep and ep["configured"]), "pending": store.pending_count(conn, connection_id),
            "failed": store.failed_count(conn, connection_id)}


def _not_configured(conn, row: dict) -> None:
    ep = store.endpoint(conn, row["id"])
    if ep and ep["configured"]:
        raise ApiError(409, "callback_configured",
                       _("The callback of connection {code} is set in BBX's configuration; ask your BBX operator "
                         "to change or remove it.", code=row["code"]))


@router.put("/connections/{connection}/callback", response_model=Callback, tags=["callbacks"],
            summary="Register the connection's callback URL (a new secret each time)")
def put_callback(connection: str, body: CallbackBody, principal: PrincipalDep, conn: ConnDep):
    no_test_key(principal)
    row = service.connection_for(conn, principal, connection)
    _not_configured(conn, row)
    try:
        url = rules.check_url(body.url)
    except rules.CallbackUrlError as exc:
        raise ApiError(422, "invalid_callback_url", str(exc), field="url") from None
    secret = store.set_endpoint(conn, row["id"], url, actor=principal.actor)
    conn.commit()
    return _summary(conn, row["id"], secret)


@router.get("/connections/{connection}/callback", response_model=Callback, tags=["callbacks"],
            summary="The connection's callback URL and its delivery counts")
def get_callback(connection: str, principal: PrincipalDep, conn: ConnDep):
    return _summary(conn, service.connection_for(conn, principal, connection)["id"])


@router.delete("/connections/{connection}/callback", response_model=Callback, tags=["callbacks"],
               summary="Stop callbacks for the connection")
def delete_callback(connection: str, principal: PrincipalDep, conn: ConnDep):
    no_test_key(principal)
    row = service.connection_for(conn, principal, connection)
    _not_configured(conn, row)
    store.remove_endpoint(conn, row["id"], actor=principal.actor)
    conn.commit()
    return _summary(conn, row["id"])


@router.get("/connections/{connection}/callback/failed", response_model=FailedList, tags=["callbacks"],
            summary="Callback posts BBX gave up on, newest first (retrying=true: also those still being tried)")
def failed_callbacks(connection: str, principal: PrincipalDep, conn: ConnDep, retrying: bool = False):
    row = service.connection_for(conn, principal, connection)
    return {"failed": store.failed_deliveries(conn, row["id"], retrying=retrying)}


def retry(conn, principal: Principal, connection: dict, event_id: int) -> str:
    """Queue one failed or retrying event for an immediate try (the page and the web
    service; never posted inside the request); 404 when the connection has no such
    undelivered event."""
    result = deliverer.request_retry(conn, connection["id"], event_id, actor=principal.actor)
    if result is None:
        raise ApiError(404, "callback_event_not_found",
                       _("Connection {code} has no undelivered callback event {id} (delivered, removed after its "
                         "keep period, or being posted right now); GET .../callback/failed?retrying=true lists "
                         "them.", code=connection["code"], id=event_id))
    return result


@router.post("/connections/{connection}/callback/events/{event_id}/retry", response_model=RetryAnswer,
             tags=["callbacks"], summary="Try a failed or retrying callback event again now (queued; audited)")
def retry_callback(connection: str, event_id: int, principal: PrincipalDep, conn: ConnDep):
    return {"id": event_id, "result": retry(conn, principal, service.connection_for(conn, principal, connection),
                                            event_id)}
