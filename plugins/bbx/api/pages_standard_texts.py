"""Pages: the versions of message types' standard texts (issue 18), and an operator's rollback.

Who sees what (the same as the web service's ``GET .../message-types/{code}/standard-text``):

- operators: every tenant's message types, every version with its text, and a rollback
  button (POST, same-origin checked; the store's rollback, audited as
  ``standard_text.rolled_back``, as ``bbx standard-texts rollback``);
- auditors: the same, read-only (a standard text is the same letter for every citizen,
  not personal content);
- tenant users: their own tenant's message types, read-only: a tenant replaces a text by
  uploading a new one (SFTP ``standard-texts/<CODE>.txt`` or ``PUT .../standard-text``);
  making an older version current again is an operator's decision.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from bbx.api import service
from bbx.api.auth import ConnDep
from bbx.api.errors import ApiError
from bbx.api.pages import _principal, _render, _same_origin, base
from bbx.i18n import _
from bbx.store import standard_texts

router = APIRouter(include_in_schema=False)


@router.get("/standard-texts", response_class=HTMLResponse)
def standard_texts_page(request: Request, conn: ConnDep):
    principal = _principal(request, conn)
    connections = service.visible_connections(conn, principal)
    for c in connections:
        c["types"] = service.message_types(conn, c["id"])
    return _render(request, "standard_texts.html", principal, connections=connections)


@router.get("/standard-texts/{connection}/{code}", response_class=HTMLResponse)
def standard_text_versions_page(connection: str, code: str, request: Request, conn: ConnDep,
                                rolled_back: int | None = None, version: int | None = None):
    principal = _principal(request, conn)
    row, message_type = service.message_type_for(conn, principal, connection, code)
    done = None if rolled_back is None or version is None else {"from": rolled_back, "version": version}
    return _render(request, "standard_text.html", principal, connection=row, message_type=message_type,
                   versions=standard_texts.versions(conn, message_type["id"]), done=done)


@router.post("/standard-texts/{connection}/{code}/rollback", response_class=HTMLResponse)
async def rollback_standard_text(connection: str, code: str, request: Request, conn: ConnDep):
    _same_origin(request)
    form = await request.form()
    principal = _principal(request, conn, "POST")
    if not principal.is_operator:
        raise ApiError(403, "operators_only",
                       _("Only operators make an older standard text current again; upload a new text instead."))
    row, message_type = service.message_type_for(conn, principal, connection, code)
    try:
        number = int(str(form.get("version", "")))
    except ValueError:
        number = 0
    new = standard_texts.rollback(conn, message_type["id"], number, actor=principal.actor)
    if new is None:
        conn.rollback()
        raise ApiError(404, "unknown_version", _("{connection}/{code} has no version {version} of its standard text.",
                                                 connection=row["code"], code=message_type["code"],
                                                 version=form.get("version", "")))
    conn.commit()
    return RedirectResponse(
        f"{base(request)}/standard-texts/{quote(row['code'])}/{quote(message_type['code'])}"
        f"?rolled_back={number}&version={new['version']}", status_code=303)
