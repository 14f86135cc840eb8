"""Web service: a connection's status callback (issue 18) — register, see, remove, and the
failed deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from bbx.api import models, service
from bbx.api.auth import ConnDep, Principal, api_principal, no_test_key
from bbx.api.errors import ApiError
from bbx.domain import callbacks as rules
from bbx.store import callbacks as store

router = APIRouter(prefix="/api/v1", responses={s: {"model": models.ErrorBody} for s in (401, 403, 404, 422)})
PrincipalDep = Annotated[Principal, Depends(api_principal)]


class CallbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"url": "https://example.nl/bbx"}]})
    url: str = Field(description="an https:// URL that accepts POSTed JSON")


class Callback(BaseModel):
    url: str | None
    registered_by: str | None = None
    secret: str | None = Field(None, description="the HMAC secret: only in the answer to PUT, shown once")
    pending: int = Field(0, description="events not yet delivered (being retried)")
    failed: int = Field(0, description="events given up on (GET .../callback/failed)")


class FailedDelivery(BaseModel):
    id: int
    submission_id: int | None
    event: str
    attempts: int
    last_status: int | None
    last_error: str | None


class FailedList(BaseModel):
    failed: list[FailedDelivery]


def _summary(conn, connection_id: int, secret: str | None = None) -> dict:
    ep = store.endpoint(conn, connection_id)
    return {"url": ep["url"] if ep else None, "registered_by": ep["registered_by"] if ep else None, "secret": secret,
            "pending": store.pending_count(conn, connection_id),
            "failed": len(store.failed_deliveries(conn, connection_id))}


@router.put("/connections/{connection}/callback", response_model=Callback, tags=["callbacks"],
            summary="Register the connection's callback URL (a new secret each time)")
def put_callback(connection: str, body: CallbackBody, principal: PrincipalDep, conn: ConnDep):
    no_test_key(principal)
    row = service.connection_for(conn, principal, connection)
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
    store.remove_endpoint(conn, row["id"], actor=principal.actor)
    conn.commit()
    return _summary(conn, row["id"])


@router.get("/connections/{connection}/callback/failed", response_model=FailedList, tags=["callbacks"],
            summary="Callback posts BBX gave up on (newest first)")
def failed_callbacks(connection: str, principal: PrincipalDep, conn: ConnDep):
    row = service.connection_for(conn, principal, connection)
    return {"failed": store.failed_deliveries(conn, row["id"])}
