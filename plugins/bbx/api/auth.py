"""Who is calling: API keys (systems), people's page sessions, and Airflow's own sign-in.

- Web service: ``Authorization: Bearer <key>`` (or ``X-API-Key: <key>``) on every request,
  or a client certificate (mTLS, bbx.api.client_certs) when configured.
  A key is for a system; the actor it records is ``api-key:<prefix>`` (the prefix names
  one key; key names need not be unique).
- Pages outside the Airflow UI: a person signs in with user name and password
  (``bbx.store.users``, ``/login``); the browser then holds a session cookie
  (``bbx_session``, HttpOnly, SameSite=Lax). The actor is ``user:<name>``.
- Pages inside the Airflow UI: the person signed in to Airflow (its ``_token`` cookie).
  With BBX's auth manager (``bbx.auth_manager``) that is a BBX account, whose role and
  tenant come from BBX's database; with another auth manager, an Airflow user allowed the
  custom view ``BBX`` is an operator (``airflow:<name>``).

Roles: ``operator`` (all tenants), ``tenant`` (one tenant), ``auditor`` (every tenant,
read-only, no personal content: no texts, no PDFs, no per-row BSNs, no BSN lookup).

Safe requests (GET/HEAD) to the web service also accept the page credentials, so the
pages can link to the API's CSV downloads. Anything that changes data through the web
service needs a key.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Annotated

from fastapi import Depends, Request

from bbx.api import client_certs, language
from bbx.api.errors import ApiError
from bbx.api.principal import Principal
from bbx.i18n import _
from bbx.store import api_keys, db, users

log = logging.getLogger(__name__)

SESSION_COOKIE = "bbx_session"
AIRFLOW_COOKIE = "_token"  # airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN
AIRFLOW_RESOURCE = "BBX"  # the custom view name Airflow's auth manager is asked about
# What an auditor may read through the web service (GET): lists, statuses and counts,
# never per-row outcomes (BSNs), populations or the BSN lookup.
_AUDITOR_API = re.compile(r"^/api/v1/(connections(/[^/]+(/reports/[a-z-]+|/callback(/failed)?)?)?"
                          r"|submissions(/\d+)?)$")


def get_conn():
    """One database connection per request; committed by the route, rolled back on error."""
    with db.connect() as conn:
        yield conn


ConnDep = Annotated[object, Depends(get_conn)]


def key_from_headers(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _sep, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""  # present but not a bearer key: refused as invalid
    key = request.headers.get("x-api-key")
    return key.strip() if key is not None else None


def _airflow_principal(request: Request, conn, method: str) -> Principal | None:
    """The Airflow user of this browser, when BBX runs inside the Airflow api-server."""
    token = request.cookies.get(AIRFLOW_COOKIE)
    if not token or "airflow.api_fastapi.app" not in sys.modules:
        return None
    try:
        import anyio.from_thread
        from airflow.api_fastapi.app import get_auth_manager

        manager = get_auth_manager()
        user = anyio.from_thread.run(manager.get_user_from_token, token)
        if not manager.is_authorized_custom_view(method=method, resource_name=AIRFLOW_RESOURCE, user=user):
            return None
        name = user.get_name()
    except Exception as exc:  # expired/invalid token, no auth manager (not in the api-server)
        log.debug("no Airflow user for BBX page: %s", exc)
        return None
    if getattr(manager, "bbx_accounts", False):  # bbx.auth_manager: the BBX account decides, as it is now
        person = users.get(conn, name)
        if person is not None:
            return Principal.from_user(person, via="airflow")
        if not getattr(user, "bbx_role", None) == "operator":  # disabled since the token was made
            return None
    return Principal(f"airflow:{name}", "operator", None, None, f"{name} (Airflow user, operator)", "airflow")


def page_principal(request: Request, conn, *, method: str = "GET") -> Principal | None:
    """The signed-in person of a page request, or None (then the page asks to sign in)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        person = users.session_user(conn, token)
        if person is not None:
            return Principal.from_user(person, via="session")
    return _airflow_principal(request, conn, method)


def api_principal(request: Request, conn: ConnDep) -> Principal:
    """FastAPI dependency of every web-service endpoint (but the person view)."""
    principal = _key_or_page_principal(request, conn)
    if principal.scope != "full":
        raise ApiError(403, "key_scope",
                       _("This API key has scope '{scope}': it may only call the person view "
                         "(POST /api/v1/connections/{{connection}}/person-view).", scope=principal.scope))
    return principal


def person_view_principal(request: Request, conn: ConnDep) -> Principal:
    """FastAPI dependency of the person view: a key with scope ``person_view`` only."""
    key = key_from_headers(request)
    if key is None:
        raise ApiError(401, "unauthenticated",
                       _("No API key: send it as 'Authorization: Bearer <key>' (or in the X-API-Key header)."),
                       headers={"WWW-Authenticate": "Bearer"})
    principal = _key_or_page_principal(request, conn)
    if principal.scope != "person_view":
        raise ApiError(403, "key_scope",
                       _("The person view needs an API key with scope 'person_view' (bbx api-key create --tenant "
                         "CODE --scope person_view): give the BRP system its own key."))
    return principal


def no_test_key(principal: Principal, submission: dict | None = None) -> None:
    """A test key sends to the sandbox and reads; it changes nothing live: no standard
    texts, populations or callbacks, and no live submission (``submission``: the one it
    would change)."""
    if principal.sandbox and (submission is None or not submission["sandbox"]):
        raise ApiError(403, "test_key_not_allowed",
                       _("This is a test API key: it sends to the sandbox and may read, but it cannot change live "
                         "settings or live submissions. Use a live key for that."))


def _key_or_page_principal(request: Request, conn) -> Principal:
    key = key_from_headers(request)
    if key is not None:
        owner = api_keys.authenticate(conn, key)
        conn.commit()  # last_used_at
        if owner is None:
            expired = api_keys.expired_at(conn, key)
            if expired is not None:
                raise ApiError(401, "api_key_expired",
                               _("This API key expired on {day}. Create a new key on the API keys page "
                                 "(or ask your BBX operator) and revoke this one.", day=expired.strftime("%Y-%m-%d")),
                               headers={"WWW-Authenticate": "Bearer"})
            raise ApiError(401, "invalid_api_key",
                           _("The API key is unknown or revoked. Ask your BBX operator for a valid key."),
                           headers={"WWW-Authenticate": "Bearer"})
        principal = Principal.from_owner(owner, via="api_key")
        language.settle(conn, principal)
        return principal
    if (by_cert := client_certs.principal(request, conn)) is not None:
        language.settle(conn, by_cert)
        return by_cert
    if request.method in ("GET", "HEAD"):
        principal = page_principal(request, conn)
        if principal is not None:
            if principal.is_auditor and not _AUDITOR_API.match(_relative_path(request)):
                raise ApiError(403, "auditor_read_only",
                               _("Auditors see submissions, outcomes and counts, not personal content "
                                 "(per-row BSNs, populations, BSN lookup)."))
            language.settle(conn, principal)
            return principal
    raise ApiError(401, "unauthenticated",
                   _("No API key: send it as 'Authorization: Bearer <key>' (or in the X-API-Key header)."),
                   headers={"WWW-Authenticate": "Bearer"})


def _relative_path(request: Request) -> str:
    path, root = request.scope.get("path", ""), request.scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path
