"""Web service v1: a dry run of a send — the letter of one row as it would be sent.

``POST /api/v1/connections/{c}/messages/preview?row=N`` takes exactly the body of a send
(JSON or streamed multipart) and runs every check of :mod:`bbx.api.sending` (a problem is
the same 4xx as the send would give), then answers with row ``N`` as it would be stored and
sent: subject, the text (personal, a filled-in template or the standard text), reference,
the PDFs, and whether it would be rejected as already handed in. Nothing is written; no
idempotency key is needed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from bbx.api import models, routes, sending, service
from bbx.api.errors import ApiError
from bbx.domain import bsn as bsn_rules
from bbx.i18n import _
from bbx.store import handins

router = APIRouter(prefix="/api/v1", responses=routes._ERRORS)


def _preview(conn, principal, connection_code: str, body: models.SendBody, uploads: tuple, row: int) -> dict:
    connection = service.connection_for(conn, principal, connection_code)
    try:
        prepared = sending.prepare(conn, connection, routes.send_request(body, uploads))
        if row > len(prepared.rows):
            raise ApiError(422, "row_not_found", _("The request has {n} rows; row {row} does not exist.",
                                                   n=len(prepared.rows), row=row), field="row")
        letter = prepared.rows[row - 1]
        earlier = handins.handed_in_earlier(
            conn, connection_id=connection["id"], message_type_id=prepared.message_type["id"], submission_id=0,
            bsns=[letter.bsn]).get(letter.bsn)
    finally:
        conn.rollback()  # a dry run: nothing is kept
    message_type = prepared.message_type
    return {
        "rows": len(prepared.rows), "row_number": letter.row_number, "bsn": bsn_rules.mask(letter.bsn),
        "subject": letter.subject or message_type["subject"],
        "text": letter.text if letter.text is not None else message_type["standard_text"],
        "reference": letter.reference, "attachments": [a.file_name for a in letter.attachments],
        "rejection": None if earlier is None else _(
            "already handed in for message type {code} in {where}: it would not be sent again",
            code=message_type["code"], where=earlier.text()),
    }


@router.post("/connections/{connection}/messages/preview", response_model=models.LetterPreview, tags=["sending"],
             summary="Dry run: one letter of a send request as it would be sent", description=__doc__,
             openapi_extra=routes._SEND_BODY)
async def preview_messages(connection: str, request: Request, principal: routes.PrincipalDep, conn: routes.ConnDep,
                           row: Annotated[int, Query(ge=1, description="the row to show (counting from 1)")] = 1):
    service.connection_for(conn, principal, connection)  # another tenant's: 404 before the body is read
    body, uploads, spool = await routes.read_send_request(request)
    try:
        return await run_in_threadpool(_preview, conn, principal, connection, body, uploads, row)
    finally:
        if spool is not None:
            spool.close()
