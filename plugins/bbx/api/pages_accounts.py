"""Pages for access (issue 14): API keys of a tenant (tenant users and operators) and
people's accounts (operators).

- ``/keys``: list, create (the secret is shown once, on the answer page, never again),
  revoke. A tenant user sees and touches only their tenant's keys; an operator every key.
- ``/people``: operators add accounts (a generated password shown once), disable them and
  reset passwords — the same table as ``bbx users``, and the Airflow UI's sign-in.

Auditors see neither: keys and accounts are not theirs to read or change.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bbx.api.auth import ConnDep, Principal
from bbx.api.errors import ApiError
from bbx.api.pages import _principal, _render, _same_origin
from bbx.i18n import _
from bbx.store import administration, api_keys, users

router = APIRouter(include_in_schema=False)


def _keys_principal(request: Request, conn, method: str = "GET") -> Principal:
    principal = _principal(request, conn, method)
    if principal.is_auditor:
        raise ApiError(403, "auditor_read_only", _("API keys are managed by tenant users and operators."))
    return principal


def _keys_page(request, conn, principal, *, status_code=200, new=None, problem=None, values=None):
    rows = api_keys.list_keys(conn, tenant_id=None if principal.is_operator else principal.tenant_id)
    tenants = administration.tenant_codes(conn) \
        if principal.is_operator else [principal.tenant_code]
    return _render(request, "keys.html", principal, status_code=status_code, keys=rows, new=new, problem=problem,
                   tenants=tenants, values=values or {"days": 365})


@router.get("/keys", response_class=HTMLResponse)
def keys_page(request: Request, conn: ConnDep):
    return _keys_page(request, conn, _keys_principal(request, conn))


@router.post("/keys", response_class=HTMLResponse)
async def create_key(request: Request, conn: ConnDep):
    _same_origin(request)
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("name", "days", "scope", "kind", "tenant")}
    principal = _keys_principal(request, conn, "POST")
    tenant = values["tenant"] if principal.is_operator else principal.tenant_code
    try:
        days = int(values["days"] or 365)
        new = api_keys.create_key(conn, tenant_code=tenant, operator=False, name=values["name"],
                                  created_by=principal.actor, scope=values["scope"] or "full",
                                  lifetime=timedelta(days=days), kind=values["kind"] or "live")
    except (ValueError, api_keys.UnknownTenant) as exc:
        conn.rollback()
        problem = _("The key was not made: {reason}", reason=str(exc))
        return _keys_page(request, conn, principal, status_code=422, problem=problem, values=values)
    conn.commit()
    return _keys_page(request, conn, principal, status_code=201, new=new)


@router.post("/keys/{prefix}/revoke", response_class=HTMLResponse)
def revoke_key(prefix: str, request: Request, conn: ConnDep):
    _same_origin(request)
    principal = _keys_principal(request, conn, "POST")
    done = api_keys.revoke(conn, prefix, actor=principal.actor,
                           tenant_id=None if principal.is_operator else principal.tenant_id)
    if not done:  # someone else's key looks the same as no key
        conn.rollback()
        return _keys_page(request, conn, principal, status_code=404,
                          problem=_("You have no active key {prefix}.", prefix=prefix))
    conn.commit()
    return _keys_page(request, conn, principal)


# --------------------------------------------------------------------------- people (operators)


def _operator(request: Request, conn, method: str = "GET") -> Principal:
    principal = _principal(request, conn, method)
    if not principal.is_operator:
        raise ApiError(403, "operators_only", _("Only operators manage people's accounts."))
    return principal


def _people_page(request, conn, principal, *, status_code=200, created=None, problem=None, values=None):
    tenants = administration.tenant_codes(conn)
    return _render(request, "people.html", principal, status_code=status_code, people=users.list_users(conn),
                   tenants=tenants, created=created, problem=problem, values=values or {}, roles=users.ROLES)


@router.get("/people", response_class=HTMLResponse)
def people_page(request: Request, conn: ConnDep):
    return _people_page(request, conn, _operator(request, conn))


@router.post("/people", response_class=HTMLResponse)
async def add_person(request: Request, conn: ConnDep):
    _same_origin(request)
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("username", "full_name", "role", "tenant")}
    principal = _operator(request, conn, "POST")
    password = users.new_password()
    try:
        user = users.add(conn, username=values["username"], password=password, role=values["role"],
                         tenant_code=values["tenant"] if values["role"] == "tenant" else None,
                         full_name=values["full_name"], created_by=principal.actor)
    except users.AccountError as exc:
        conn.rollback()
        return _people_page(request, conn, principal, status_code=422, values=values,
                            problem=_("The account was not made: {reason}", reason=str(exc)))
    conn.commit()
    return _people_page(request, conn, principal, status_code=201, created={"user": user, "password": password})


@router.post("/people/{username}/disable", response_class=HTMLResponse)
def disable_person(username: str, request: Request, conn: ConnDep):
    _same_origin(request)
    principal = _operator(request, conn, "POST")
    if not users.disable(conn, username, actor=principal.actor):
        return _people_page(request, conn, principal, status_code=404,
                            problem=_("There is no active account {name}.", name=username))
    conn.commit()
    return _people_page(request, conn, principal)
