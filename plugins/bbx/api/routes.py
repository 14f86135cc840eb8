"""Web service v1: ``/api/v1/...`` (thin: checks and SQL live in service/sending/store)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from bbx.api import audit_views, csvout, models, sending, service, streamed, throttle
from bbx.api.auth import ConnDep, Principal, api_principal, no_test_key
from bbx.api.errors import ApiError
from bbx.api.limits import (
    DEFAULT_ROWS_PER_PAGE,
    MAX_BSNS_PER_CALL,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_ROWS_PER_PAGE,
    MAX_SUBMISSIONS_PER_LOG,
)
from bbx.delivery import trigger
from bbx.domain import limits
from bbx.domain import schedule as schedule_rules
from bbx.domain import standard_texts as text_rules
from bbx.i18n import _
from bbx.store import register, reports, standard_texts

_ERRORS = {status: {"model": models.ErrorBody} for status in (400, 401, 404, 409, 413, 415, 422, 429)}
router = APIRouter(prefix="/api/v1", responses=_ERRORS)

PrincipalDep = Annotated[Principal, Depends(api_principal)]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
Start = Annotated[date | None, Query(alias="from", description="first day (inclusive); default: 1st of this month")]
End = Annotated[date | None, Query(alias="to", description="last day (inclusive); default: today")]


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    default_start, default_end = service.default_period()
    start, end = start or default_start, end or default_end
    service.check_period(start, end)
    return start, end


# --------------------------------------------------------------------------- connections


@router.get("/connections", response_model=models.ConnectionList, tags=["connections"],
            summary="Your connections and their message types")
def list_connections(principal: PrincipalDep, conn: ConnDep):
    rows = service.visible_connections(conn, principal)
    return {"connections": [service.connection_json(c, service.message_types(conn, c["id"])) for c in rows]}


@router.get("/connections/{connection}", response_model=models.Connection, tags=["connections"],
            summary="One connection and its message types")
def get_connection(connection: str, principal: PrincipalDep, conn: ConnDep):
    row = service.connection_for(conn, principal, connection)
    return service.connection_json(row, service.message_types(conn, row["id"]))


# --------------------------------------------------------------------------- standard texts


def _versions_json(conn, connection: dict, message_type: dict) -> dict:
    found = standard_texts.versions(conn, message_type["id"])
    return {"connection": connection["code"], "message_type": message_type["code"],
            "current": found[0]["version"] if found else 0, "versions": found}


@router.get("/connections/{connection}/message-types/{code}/standard-text", tags=["connections"],
            response_model=models.StandardTextVersions, summary="The versions of a message type's standard text")
def get_standard_text(connection: str, code: str, principal: PrincipalDep, conn: ConnDep):
    row, message_type = service.message_type_for(conn, principal, connection, code)
    return _versions_json(conn, row, message_type)


@router.put("/connections/{connection}/message-types/{code}/standard-text", tags=["connections"],
            response_model=models.StandardTextVersions, summary="Replace a message type's standard text",
            description="The body is the new text (text/plain, UTF-8). It becomes a new version, used by "
                        "every submission planned from now on; submissions already planned keep theirs.",
            openapi_extra={"requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def put_standard_text(connection: str, code: str, request: Request, principal: PrincipalDep, conn: ConnDep):
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "text/plain":
        raise ApiError(415, "unsupported_media_type", _("Send the standard text as text/plain (UTF-8)."))
    no_test_key(principal)
    raw = await request.body()
    checked = text_rules.check_upload(raw)
    row, message_type = service.message_type_for(conn, principal, connection, code)
    if checked.text is None:
        raise ApiError(422, "invalid_standard_text", "; ".join(checked.problems), field="body")
    standard_texts.add(conn, message_type["id"], checked.text, source="api", actor=principal.actor)
    conn.commit()
    return _versions_json(conn, row, message_type)


# --------------------------------------------------------------------------- sending

_SEND_DOC = f"""Hand in one message of a message type for a list of BSNs.

The request is checked as a whole: any problem (unknown message type, invalid or repeated
BSN, text too long, more than {MAX_BSNS_PER_CALL:,} BSNs, ...) refuses it with a 4xx error
listing every problem, and nothing is created. An accepted request becomes one
submission; delivery sends it on its next run (usually within minutes). BSNs that are not
in the register on the send date are not sent and get outcome `not_subscribed`; you do
not have to filter them.

**Idempotency**: the `Idempotency-Key` header is required. The same key with the same
request returns the submission of the first call (200 instead of 201, header
`Idempotent-Replayed: true`); the same key with a different request is refused (409), and so
is the same body with another `send_at` or `publication_date`.

**Personal PDFs** (optional): send `multipart/form-data` with a part `request` holding the
JSON body and one file part per PDF, named `<BSN>_1.pdf` / `<BSN>_2.pdf` (at most 2 per BSN,
together at most {limits.MAX_ATTACHMENT_BYTES_PER_MESSAGE // 1000} kB (1 kB = 1,000 bytes) per message after
BBX adds the message type's standard PDFs). With PDFs, `text` may be left out even when
the message type has no standard text.

**Personal letters**: give `messages` (a text, subject and reference per citizen, up to
{MAX_BSNS_PER_CALL:,}) instead of `bsns`; with their PDFs as file parts of the multipart
request. A multipart request is read streamed (PDFs kept encrypted on disk, never the whole
body in memory): up to 2 GB, while a JSON body is limited to 10 MB. A problem in any message
refuses the request (`422 invalid_messages`, each problem with the message's position).
"""

_SEND_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SendBody"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["request"],
                    "properties": {
                        "request": {"type": "string", "description": "the JSON body (SendBody, with `bsns` or "
                                                                     "`messages`) as a string"},
                        "attachments": {"type": "array", "items": {"type": "string", "format": "binary"},
                                        "description": "PDF files named <BSN>_1.pdf or <BSN>_2.pdf"},
                    },
                }
            },
        },
    }
}


def _idempotency_key(value: str | None) -> str:
    if value is None or not value.strip():
        raise ApiError(400, "idempotency_key_missing",
                       _("Send an Idempotency-Key header (for example a UUID) so that a retried request "
                         "cannot hand in the same messages twice."))
    if len(value) > MAX_IDEMPOTENCY_KEY_CHARS or not all("\x21" <= ch <= "\x7e" for ch in value):
        raise ApiError(400, "idempotency_key_invalid",
                       _("The Idempotency-Key must be 1-{max} printable ASCII characters without spaces "
                         "(a UUID is a good choice).", max=MAX_IDEMPOTENCY_KEY_CHARS))
    return value


def _body_model(raw: bytes | str) -> models.SendBody:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", _("The request body is not valid JSON: {problem}.", problem=exc)) from None
    try:
        return models.SendBody.model_validate(data)
    except ValidationError as exc:
        details = [{"location": ".".join(str(p) for p in ("body", *e["loc"])), "problem": e["msg"]}
                   for e in exc.errors()]
        where = ", ".join(d["location"] for d in details[:5])
        raise ApiError(422, "invalid_request",
                       _("The request does not match the API description ({where}): see details and /api/v1/docs.",
                         where=where), details=details) from None


async def read_send_request(request: Request) -> tuple[models.SendBody, tuple, streamed.Spool | None]:
    """(the body, its PDFs, the spool holding them to close afterwards)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return _body_model(await request.body()), (), None
    if content_type == "multipart/form-data":
        form = await streamed.read(request)  # streamed: PDFs encrypted in a temporary spool
        if form.request is None:
            form.spool.close()
            raise ApiError(422, "invalid_request",
                           _("A multipart request needs a text part 'request' holding the JSON body."),
                           details=[{"location": "body.request", "problem": "missing"}])
        try:
            return _body_model(form.request), tuple(form.uploads), form.spool
        except ApiError:
            form.spool.close()
            raise
    raise ApiError(415, "unsupported_media_type",
                   _("Send the request as application/json, or as multipart/form-data when it has PDFs."))


def send_request(body: models.SendBody, uploads: tuple) -> sending.SendRequest:
    """The checked body as the request of :mod:`bbx.api.sending` (also for the preview)."""
    if (body.bsns is None) == (body.messages is None):
        raise ApiError(422, "invalid_request", _("Give either 'bsns' (one text for every BSN) or 'messages' "
                                                 "(a letter per citizen), not both or neither."),
                       field="bsns", details=[{"location": "body.bsns", "problem": "give bsns or messages"}])
    messages = None if body.messages is None else tuple(
        sending.Personal(m.bsn, m.text, m.subject, m.reference, m.values) for m in body.messages)
    return sending.SendRequest(message_type=body.message_type, bsns=body.bsns or [], text=body.text,
                               reference=body.reference, uploads=uploads, messages=messages)


def _send(conn, principal: Principal, connection_code: str, key: str, body: models.SendBody,
          uploads: tuple) -> tuple[dict, bool]:
    connection = service.connection_for(conn, principal, connection_code)
    try:
        schedule = sending.schedule_for(conn, connection, channel="api", external_ref=key, sandbox=principal.sandbox,
                                        send_at=body.send_at, publication_date=body.publication_date)
    except schedule_rules.ScheduleError as exc:
        raise sending.schedule_problem(exc) from None
    req = send_request(body, uploads)
    throttle.check_daily_cap(conn, connection, len(req.bsns if req.messages is None else req.messages),
                             sandbox=principal.sandbox)
    try:
        if principal.sandbox:
            sending.check_sandbox()
        prepared = sending.prepare(conn, connection, req)
        handed = sending.hand_in(conn, prepared, channel="api", external_ref=key, actor=principal.actor,
                                 schedule=schedule, sandbox=principal.sandbox)
    except ApiError as exc:
        conn.rollback()
        audit_views.hand_in_refused(conn, principal, connection, "api", exc)
        raise
    conn.commit()
    if handed.created and schedule.send_at is None:  # delivery at once, not on bbx_deliver's timer
        trigger.delivery_requested(handed.submission_id, connection["code"], "api")
    return service.submission_status(conn, service.submission_for(conn, principal, handed.submission_id)), handed.created


@router.post("/connections/{connection}/messages", status_code=201, response_model=models.SubmissionStatus,
             tags=["sending"], summary="Send a message to a list of BSNs", description=_SEND_DOC,
             openapi_extra=_SEND_BODY,
             responses={200: {"model": models.SubmissionStatus,
                              "description": "the same request was handed in before under this key"}})
async def send_messages(connection: str, request: Request, principal: PrincipalDep, conn: ConnDep,
                        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None):
    key = _idempotency_key(idempotency_key)
    with throttle.send_slot(principal, service.connection_for(conn, principal, connection)):
        body, uploads, spool = await read_send_request(request)
        try:
            status, created = await run_in_threadpool(_send, conn, principal, connection, key, body, uploads)
        finally:
            if spool is not None:
                spool.close()
    headers = {"Location": f"{request.scope.get('root_path', '')}/api/v1/submissions/{status['id']}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(jsonable_encoder(status), status_code=201 if created else 200, headers=headers)


# --------------------------------------------------------------------------- submissions

_LOG_COLUMNS = ("id", "connection", "channel", "sandbox", "external_ref", "submitted_by", "received_at", "message_type",
                "status", "status_reason", "rows_handed_in", "closed_at", "rejected", "not_subscribed",
                "delivered", "failed", "open", "file_name", "file_role", "file_size_bytes", "file_sha256")


def _log_csv_rows(entries: list[dict]):
    for e in entries:
        counts = e["counts"]
        base = {**e, **{o: counts.get(o, 0) for o in ("rejected", "not_subscribed", "delivered", "failed")},
                "open": sum(counts.get(o, 0) for o in ("planned", "queued", "sent"))}
        if not e["files"]:
            yield base
        for f in e["files"]:
            yield {**base, "file_name": f["file_name"], "file_role": f["role"],
                   "file_size_bytes": f["size_bytes"], "file_sha256": f["sha256"]}


@router.get("/submissions", response_model=models.SubmissionLog, tags=["submissions", "reports"],
            summary="The submission log: everything handed in during a period",
            description="What was handed in, when, through which channel, by whom, its state and outcome "
                        "counts, and every file with its SHA-256. Newest first. CSV: one line per file.")
def list_submissions(principal: PrincipalDep, conn: ConnDep, start: Start = None, end: End = None,
                     connection: Annotated[str | None, Query(description="one connection; default all of yours")] = None,
                     limit: Annotated[int, Query(ge=1, le=MAX_SUBMISSIONS_PER_LOG)] = 1000,
                     format: Format = "json"):
    start, end = _period(start, end)
    entries = service.submission_list(conn, principal, connection, start, end, limit)
    if format == "csv":
        return csvout.response(_log_csv_rows(entries), _LOG_COLUMNS, f"submissions_{start}_{end}.csv")
    return {"start": start, "end": end, "submissions": entries}


@router.get("/submissions/{submission_id}", response_model=models.SubmissionStatus, tags=["submissions"],
            summary="Status of a submission with its outcome counts")
def get_submission(submission_id: int, principal: PrincipalDep, conn: ConnDep):
    return service.submission_status(conn, service.submission_for(conn, principal, submission_id))


_ROW_COLUMNS = ("row_number", "bsn", "message_id", "outcome", "outcome_code", "outcome_reason", "reference",
                "attachments", "created_at", "sent_at", "final_at", "purged_at", "standard_text_version")


def _all_rows(submission_id: int, outcomes, after_row: int):
    """For a streamed CSV: its own connection, since the response outlives the request's."""
    from bbx.store import db, lookup

    with db.connect() as conn:
        yield from lookup.iter_submission_rows(conn, submission_id, outcomes=outcomes, after_row=after_row)


@router.get("/submissions/{submission_id}/messages", response_model=models.RowPage, tags=["submissions"],
            summary="Per-row outcomes of a submission",
            description="One entry per row handed in, in row order. Filter with `outcome` (repeatable), or "
                        "`undeliverable=true` for the paper-mail fallback list (not subscribed and failed; never "
                        "rejected rows — the same list as the SFTP `undeliverable.csv`). JSON comes "
                        f"in pages (`limit`, default {DEFAULT_ROWS_PER_PAGE:,}; continue with `after_row`); "
                        "CSV has every row (streamed) unless `limit` is given.")
def get_submission_rows(submission_id: int, principal: PrincipalDep, conn: ConnDep,
                        outcome: Annotated[list[models.Outcome] | None, Query()] = None,
                        undeliverable: bool = False,
                        after_row: Annotated[int, Query(ge=0)] = 0,
                        limit: Annotated[int | None, Query(ge=1, le=MAX_ROWS_PER_PAGE)] = None,
                        format: Format = "json"):
    from bbx.domain.outcomes import UNDELIVERABLE
    from bbx.store import lookup

    sub = service.submission_for(conn, principal, submission_id)
    if undeliverable:  # the one definition of the paper-mail list (bbx.domain.outcomes)
        if outcome and set(outcome) != {o.value for o in UNDELIVERABLE}:
            raise ApiError(422, "invalid_request", _("Give either undeliverable=true or outcome filters, not both."))
        outcome = [o.value for o in UNDELIVERABLE]
    if format == "csv" and limit is None:
        return csvout.stream_rows(_all_rows(sub["id"], outcome, after_row), _ROW_COLUMNS,
                                  f"submission_{submission_id}_rows.csv")
    limit = limit or DEFAULT_ROWS_PER_PAGE
    rows = lookup.submission_rows(conn, sub["id"], outcomes=outcome, after_row=after_row, limit=limit)
    if format == "csv":
        return csvout.response(rows, _ROW_COLUMNS, f"submission_{submission_id}_rows.csv")
    next_after = rows[-1]["row_number"] if len(rows) == limit else None
    return {"submission_id": sub["id"], "rows": rows, "next_after_row": next_after}


# --------------------------------------------------------------------------- BSN lookup


@router.post("/bsn-lookup", response_model=models.BsnLookup, tags=["lookup"],
             summary="Everything about one BSN: register periods and every message, sent or not",
             description="POST, so that the BSN is never part of a URL (URLs end up in access logs). "
                         "Each lookup is recorded in BBX's audit log (with the BSN masked).")
def bsn_lookup(body: models.LookupBody, principal: PrincipalDep, conn: ConnDep):
    result = service.lookup_bsn(conn, principal, body.bsn, body.connections)
    conn.commit()  # the audit record
    return result


# --------------------------------------------------------------------------- reports


@router.get("/connections/{connection}/reports/subscribed", response_model=models.SubscribedReport,
            tags=["reports"], summary="Number of subscribed BSNs on a date (and the BSNs when asked)",
            description="With `with_bsns=true&format=csv`: every subscribed BSN with its period "
                        "(`bsn,begin_date,end_date`; end_date exclusive), streamed.")
def report_subscribed(connection: str, principal: PrincipalDep, conn: ConnDep,
                      on: Annotated[date | None, Query(description="default: today")] = None,
                      with_bsns: bool = False, format: Format = "json"):
    row = service.connection_for(conn, principal, connection)
    on = on or service.today()
    if format == "csv" and with_bsns:  # can be a million lines: streamed from PostgreSQL
        return csvout.stream_bytes(_register_csv(row["id"], on), f"subscribed_{row['code']}_{on}.csv")
    result = register.subscribed_on(conn, row["id"], on, with_bsns=with_bsns)
    data = {"connection": row["code"], "on": on, "count": result["count"]}
    if with_bsns:
        data["bsns"] = result.get("bsns", [])
    if format == "csv":
        return csvout.response([data], ("connection", "on", "count"), f"subscribed_{row['code']}_{on}.csv")
    return data


def _register_csv(connection_id: int, on: date):
    from bbx.store import db

    with db.connect() as conn:
        yield from register.active_register_csv(conn, connection_id, on)


@router.get("/connections/{connection}/reports/register-changes", response_model=models.RegisterChangesReport,
            tags=["reports"], summary="Sign-ups and sign-offs in a period (and the BSNs when asked)")
def report_register_changes(connection: str, principal: PrincipalDep, conn: ConnDep, start: Start = None,
                            end: End = None, with_bsns: bool = False, format: Format = "json"):
    row = service.connection_for(conn, principal, connection)
    start, end = _period(start, end)
    result = register.changes(conn, row["id"], start, end, with_bsns=with_bsns)
    data = {"connection": row["code"], "start": start, "end": end, "signups": result["signups"],
            "signoffs": result["signoffs"]}
    if with_bsns:
        data["signup_bsns"] = result.get("signup_bsns", [])
        data["signoff_bsns"] = result.get("signoff_bsns", [])
    if format == "csv":
        name = f"register_changes_{row['code']}_{start}_{end}.csv"
        if with_bsns:
            lines = [{"change": "signup", "bsn": b} for b in data["signup_bsns"]]
            lines += [{"change": "signoff", "bsn": b} for b in data["signoff_bsns"]]
            return csvout.response(lines, ("change", "bsn"), name)
        return csvout.response([data], ("connection", "start", "end", "signups", "signoffs"), name)
    return data


@router.get("/connections/{connection}/reports/sent", response_model=models.SentReport, tags=["reports"],
            summary="Messages sent per message type in a period",
            description="Messages sent to MijnOverheid in the period (Dutch dates, inclusive; a message resent "
                        "after a technical problem counts once, at its latest send), per message type, with what "
                        "became of them so far.")
def report_sent(connection: str, principal: PrincipalDep, conn: ConnDep, start: Start = None, end: End = None,
                format: Format = "json"):
    row = service.connection_for(conn, principal, connection)
    start, end = _period(start, end)
    rows = reports.sent_per_message_type(conn, row["id"], start, end)
    if format == "csv":
        return csvout.response(rows, ("message_type", "name", "sent", "delivered", "not_subscribed", "failed",
                                      "awaiting_result"), f"sent_{row['code']}_{start}_{end}.csv")
    return {"connection": row["code"], "start": start, "end": end, "message_types": rows}


@router.get("/connections/{connection}/reports/undelivered", response_model=models.UndeliveredReport,
            tags=["reports"], summary="Messages not delivered per message type, by reason",
            description="Messages that got a final outcome other than delivered in the period: rejected at "
                        "intake, not subscribed (not sent), or failed at MijnOverheid, with code and reason.")
def report_undelivered(connection: str, principal: PrincipalDep, conn: ConnDep, start: Start = None,
                       end: End = None, format: Format = "json"):
    row = service.connection_for(conn, principal, connection)
    start, end = _period(start, end)
    rows = reports.undelivered_per_message_type(conn, row["id"], start, end)
    if format == "csv":
        return csvout.response(rows, ("message_type", "name", "outcome", "code", "reason", "messages"),
                               f"undelivered_{row['code']}_{start}_{end}.csv")
    return {"connection": row["code"], "start": start, "end": end, "rows": rows}
