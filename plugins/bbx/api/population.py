"""Web service v1, issue 16: the population of a connection, its report, and the person
view a BRP system calls (thin: the rules are in bbx.intake.population / bbx.store.population)."""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from bbx.api import csvout, models, service
from bbx.api.auth import ConnDep, Principal, api_principal, no_test_key, person_view_principal
from bbx.api.errors import ApiError
from bbx.api.limits import MAX_POPULATION_REQUEST_BYTES
from bbx.api.routes import _idempotency_key, _period
from bbx.domain import bsn as bsn_rules
from bbx.i18n import _
from bbx.store import audit, register
from bbx.store import population as store

_ERRORS = {status: {"model": models.ErrorBody} for status in (400, 401, 403, 404, 409, 413, 415, 422)}
router = APIRouter(prefix="/api/v1", responses=_ERRORS)

PrincipalDep = Annotated[Principal, Depends(api_principal)]
PersonViewDep = Annotated[Principal, Depends(person_view_principal)]
MAX_PERSON_VIEW_DAYS = 366
DEFAULT_PERSON_VIEW_DAYS = 90


# --------------------------------------------------------------------------- models


class PopulationVersion(BaseModel):
    version: int
    mode: Literal["full", "additions", "removals"]
    rows_handed_in: int
    rows_rejected: int
    added: int
    removed: int
    unchanged: int = Field(description="valid rows that changed nothing (already in, or not in for a removal)")
    members: int = Field(description="BSNs in the population after this hand-in")


class RejectedRow(BaseModel):
    row: int = Field(description="line in the list as sent (1 = first line, a header line included)")
    value: str
    reason: str


class PopulationHandIn(BaseModel):
    connection: str
    submission: int
    population: PopulationVersion
    rejected_rows: list[RejectedRow] = Field(description="the first 1,000 rejected rows")
    notes: list[str]


class PopulationLogEntry(PopulationVersion):
    submission: int
    channel: str
    submitted_by: str
    applied_at: datetime


class PopulationState(BaseModel):
    connection: str
    register_export: Literal["none", "full", "population"]
    current: PopulationLogEntry | None
    versions: list[PopulationLogEntry] = Field(description="the latest 20 hand-ins, newest first")


class ChangeCounts(BaseModel):
    signups: int
    signoffs: int
    signup_bsns: list[str] | None = None
    signoff_bsns: list[str] | None = None


class PopulationChangesReport(BaseModel):
    connection: str
    start: date
    end: date
    population_version: int | None
    in_population: ChangeCounts
    outside_population: ChangeCounts


class PersonViewBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"bsn": "249566758", "days": 90}]})

    bsn: str = Field(description="the person's BSN (in the body, never in the URL)")
    days: int = Field(DEFAULT_PERSON_VIEW_DAYS, ge=1, le=MAX_PERSON_VIEW_DAYS,
                      description="messages of the last N days (default 90)")


class PersonPeriod(BaseModel):
    begin_date: date
    end_date: date | None = Field(description="the first day without a subscription; null: still subscribed")


class PersonMessage(BaseModel):
    message_id: str | None
    submission: int
    channel: str
    message_type: str | None
    message_type_name: str | None
    outcome: str
    outcome_code: str | None
    outcome_reason: str | None
    created_at: datetime
    sent_at: datetime | None
    final_at: datetime | None


class PersonView(BaseModel):
    connection: str
    bsn: str
    on: date
    subscribed: bool
    in_population: bool
    periods: list[PersonPeriod]
    days: int
    since: datetime
    messages: list[PersonMessage]


# --------------------------------------------------------------------------- population

_HAND_IN_DOC = """Hand in the connection's population: the BSNs you serve (your afnemersindicaties in
the BRP). The body is the list itself (`text/csv` or `text/plain`): one BSN per line, a header
line `bsn` is allowed; the same reading rules as an SFTP list (docs/drop-protocol.md). Up to
64 MB (about 5 million BSNs). Nothing of it is ever sent to MijnOverheid.

`mode`: `full` (default) replaces the population; `additions` adds the BSNs; `removals` removes them.

Each row is checked like any BSN list (11-test, 8 digits repaired with the leading zero, each BSN
once): a bad row is rejected (listed in the answer) and the others count. A problem of the list as a
whole (other columns than the BSN, not readable as text, no rows) refuses the request (422) and
nothing is stored. The hand-in is logged as a submission (`GET /api/v1/submissions`).

**Idempotency**: the `Idempotency-Key` header is required; the same key with the same list and mode
returns the first answer (200, `Idempotent-Replayed: true`), with another list 409.
"""


def _scope(row: dict) -> str:
    return row["register_export_scope"] if row["register_export"] else "none"


def _export_row(conn, connection_id: int) -> dict:
    return store.export_setting(conn, connection_id)


def _entry(v: dict) -> dict:
    return {**{k: v[k] for k in ("version", "mode", "rows_handed_in", "rows_rejected", "added", "removed",
                                 "unchanged", "members", "channel", "submitted_by", "applied_at")},
            "submission": v["submission_id"]}


@router.post("/connections/{connection}/population", status_code=201, response_model=PopulationHandIn,
             tags=["population"], summary="Hand in the population (the BSNs you serve)", description=_HAND_IN_DOC,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}}}},
             responses={200: {"model": PopulationHandIn, "description": "handed in before under this key"}})
async def hand_in_population(connection: str, request: Request, principal: PrincipalDep, conn: ConnDep,
                             mode: Annotated[Literal["full", "additions", "removals"], Query()] = "full",
                             idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None):
    from bbx.intake import population as intake

    key = _idempotency_key(idempotency_key)
    no_test_key(principal)
    row = await run_in_threadpool(service.connection_for, conn, principal, connection)
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind not in ("text/csv", "text/plain"):
        raise ApiError(415, "unsupported_media_type",
                       _("Send the population list as the body with Content-Type text/csv or text/plain "
                         "(one BSN per line)."))
    with tempfile.TemporaryDirectory(prefix="bbx-population-") as folder:
        path = Path(folder) / "population.csv"
        size = 0
        with open(path, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_POPULATION_REQUEST_BYTES:
                    raise ApiError(413, "request_too_large", _("The list is larger than 64 MB: send it as an "
                                                               "SFTP drop of kind population instead."))
                out.write(chunk)
        try:
            result = await run_in_threadpool(
                intake.hand_in_file, {"id": row["id"], "code": row["code"]}, path, file_name="population.csv",
                mode=mode, channel="api", external_ref=f"population:{key}", submitted_by=principal.actor)
        except intake.PopulationRefused as exc:
            raise ApiError(422, "invalid_population",
                           _("The population list cannot be used as a whole; nothing was stored: {problems}",
                             problems="; ".join(exc.problems)),
                           details=exc.problems) from None
        except intake.IdempotencyConflict as exc:
            raise ApiError(409, "idempotency_key_reused", str(exc)) from None
    body = {"connection": row["code"], "submission": result["submission_id"], "population": result["population"],
            "rejected_rows": result["rejected_rows"], "notes": result["notes"]}
    headers = {"Idempotent-Replayed": "true"} if result["replayed"] else {}
    return JSONResponse(jsonable_encoder(body), status_code=200 if result["replayed"] else 201, headers=headers)


@router.get("/connections/{connection}/population", response_model=PopulationState, tags=["population"],
            summary="The population's current version and its latest hand-ins (counts, no BSNs)")
def get_population(connection: str, principal: PrincipalDep, conn: ConnDep):
    row = service.connection_for(conn, principal, connection)
    versions = store.versions(conn, row["id"])
    return {"connection": row["code"], "register_export": _scope(_export_row(conn, row["id"])),
            "current": _entry(versions[0]) if versions else None, "versions": [_entry(v) for v in versions]}


@router.get("/connections/{connection}/reports/population-changes", response_model=PopulationChangesReport,
            tags=["reports", "population"],
            summary="Sign-ups and sign-offs in a period, in the population and outside it (and the BSNs when asked)",
            description="As `reports/register-changes`, split by whether the BSN is in the connection's "
                        "population now. `format=csv&with_bsns=true`: one line per BSN "
                        "(`change,population,bsn`).")
def report_population_changes(connection: str, principal: PrincipalDep, conn: ConnDep,
                              start: Annotated[date | None, Query(alias="from")] = None,
                              end: Annotated[date | None, Query(alias="to")] = None, with_bsns: bool = False,
                              format: Annotated[Literal["json", "csv"], Query()] = "json"):
    row = service.connection_for(conn, principal, connection)
    start, end = _period(start, end)
    split = store.changes_split(conn, row["id"], start, end, with_bsns=with_bsns)
    current = store.current(conn, row["id"])
    data = {"connection": row["code"], "start": start, "end": end,
            "population_version": current["version"] if current else None, **split}
    if format == "csv":
        name = f"population_changes_{row['code']}_{start}_{end}.csv"
        if with_bsns:
            lines = [{"change": change, "population": where, "bsn": b}
                     for where in ("in_population", "outside_population")
                     for change, field in (("signup", "signup_bsns"), ("signoff", "signoff_bsns"))
                     for b in split[where][field]]
            return csvout.response(lines, ("change", "population", "bsn"), name)
        lines = [{"population": where, **split[where]} for where in ("in_population", "outside_population")]
        return csvout.response(lines, ("population", "signups", "signoffs"), name)
    return data


# --------------------------------------------------------------------------- person view


@router.post("/connections/{connection}/person-view", response_model=PersonView, tags=["person view"],
             summary="One person at a glance, for a BRP system: subscription periods and recent messages",
             description="Needs an API key with scope `person_view` (and only such a key may call it). POST, so "
                         "the BSN stays out of URLs. No personal content: no texts, subjects, references or "
                         "PDFs. Each call is recorded in BBX's audit log (BSN masked).")
def person_view(connection: str, body: PersonViewBody, principal: PersonViewDep, conn: ConnDep):
    row = service.connection_for(conn, principal, connection)
    bsn = service.check_bsn(body.bsn)
    on = service.today()
    view = store.person_view(conn, row["id"], bsn, days=body.days)
    messages = [{**{k: v for k, v in m.items() if k != "submission_id"}, "submission": m["submission_id"]}
                for m in view["messages"]]
    audit.record(conn, actor=principal.actor, action="person.view", tenant_id=row["tenant_id"],
                 connection_id=row["id"],
                 details={"bsn": bsn_rules.mask(bsn), "days": body.days, "messages_found": len(messages)})
    conn.commit()
    return {"connection": row["code"], "bsn": bsn, "on": on, "subscribed": register.is_subscribed(conn, row["id"], bsn, on),
            "in_population": view["in_population"], "periods": view["periods"], "days": body.days,
            "since": view["since"], "messages": messages}


