"""Who is calling: API keys (web service), page sessions, and Airflow's own sign-in.

- Web service: ``Authorization: Bearer <key>`` (or ``X-API-Key: <key>``) on every request,
  or a client certificate (mTLS, bbx.api.client_certs) when configured.
- Pages outside the Airflow UI: sign in with a key once (``/login``); the browser then
  holds a session cookie (``bbx_session``, HttpOnly, SameSite=Lax).
- Pages inside the Airflow UI: a user signed in to Airflow (its ``_token`` cookie) is
  a BBX operator when Airflow's auth manager allows the custom view ``BBX`` (GET to
  look, POST to send).

Safe requests (GET/HEAD) to the web service also accept the page credentials, so the
pages can link to the API's CSV downloads. Anything that changes data through the web
service needs a key.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from bbx.api.errors import ApiError
from bbx.store import api_keys, db

log = logging.getLogger(__name__)

SESSION_COOKIE = "bbx_session"
AIRFLOW_COOKIE = "_token"  # airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN
AIRFLOW_RESOURCE = "BBX"  # the custom view name Airflow's auth manager is asked about


@dataclass(frozen=True)
class Principal:
    actor: str  # recorded as submitted_by / audit actor: "api-key:<prefix>" or "airflow:<user>"
    role: str  # 'tenant' | 'operator'
    tenant_id: int | None
    tenant_code: str | None
    label: str  # for people: who is signed in
    via: str  # 'api_key' | 'session' | 'airflow' | 'client_cert'
    scope: str = "full"  # 'full' | 'person_view' (bbx.store.api_keys)

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @classmethod
    def from_owner(cls, owner: api_keys.KeyOwner, via: str) -> Principal:
        who = owner.tenant_code if owner.role == "tenant" else "operator"
        return cls(owner.actor, owner.role, owner.tenant_id, owner.tenant_code,
                   f"{owner.name} ({who}, key {owner.prefix})", via, owner.scope)


def get_conn():
    """One database connection per request; committed by the route, rolled back on error."""
    with db.connect() as conn:
        yield conn


ConnDep = Annotated[object, Depends(get_conn)]


def key_from_headers(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""  # present but not a bearer key: refused as invalid
    key = request.headers.get("x-api-key")
    return key.strip() if key is not None else None


def _airflow_principal(request: Request, method: str) -> Principal | None:
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
    return Principal(f"airflow:{name}", "operator", None, None, f"{name} (Airflow user, operator)", "airflow")


def page_principal(request: Request, conn, *, method: str = "GET") -> Principal | None:
    """The signed-in person of a page request, or None (then the page asks to sign in)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        owner = api_keys.session_owner(conn, token)
        if owner is not None and owner.scope == "full":
            return Principal.from_owner(owner, via="session")
    return _airflow_principal(request, method)


def api_principal(request: Request, conn: ConnDep) -> Principal:
    """FastAPI dependency of every web-service endpoint (but the person view)."""
    principal = _key_or_page_principal(request, conn)
    if principal.scope != "full":
        raise ApiError(403, "key_scope",
                       f"This API key has scope {principal.scope!r}: it may only call the person view "
                       "(POST /api/v1/connections/{connection}/person-view).")
    return principal


def person_view_principal(request: Request, conn: ConnDep) -> Principal:
    """FastAPI dependency of the person view: a key with scope ``person_view`` only."""
    key = key_from_headers(request)
    if key is None:
        raise ApiError(401, "unauthenticated",
                       "No API key: send it as 'Authorization: Bearer <key>' (or in the X-API-Key header).",
                       headers={"WWW-Authenticate": "Bearer"})
    principal = _key_or_page_principal(request, conn)
    if principal.scope != "person_view":
        raise ApiError(403, "key_scope",
                       "The person view needs an API key with scope 'person_view' (bbx api-key create --tenant "
                       "CODE --scope person_view): give the BRP system its own key.")
    return principal


def _key_or_page_principal(request: Request, conn) -> Principal:
    key = key_from_headers(request)
    if key is not None:
        owner = api_keys.authenticate(conn, key)
        conn.commit()  # last_used_at
        if owner is None:
            raise ApiError(401, "invalid_api_key",
                           "The API key is unknown or revoked. Ask your BBX operator for a valid key.",
                           headers={"WWW-Authenticate": "Bearer"})
        return Principal.from_owner(owner, via="api_key")
    from bbx.api import client_certs  # mTLS, when configured (imports Principal from here)

    if (by_cert := client_certs.principal(request, conn)) is not None:
        return by_cert
    if request.method in ("GET", "HEAD"):
        principal = page_principal(request, conn)
        if principal is not None:
            return principal
    raise ApiError(401, "unauthenticated",
                   "No API key: send it as 'Authorization: Bearer <key>' (or in the X-API-Key header).",
                   headers={"WWW-Authenticate": "Bearer"})
