"""BBX's auth manager for Airflow 3.3 (issue 14): people sign in to the Airflow UI with
their BBX account (``bbx.store.users``), so an operator manages people in ONE place
(``bbx users ...`` or the BBX *People* page), for Airflow and the BBX pages alike.

Configured with ``[core] auth_manager = bbx.auth_manager.BbxAuthManager`` (the stack:
``bbx.airflow_env.AUTH_MANAGER``; ``docker-compose.yaml``).

Why a subclass of Airflow's ``SimpleAuthManager`` and not the FAB provider: FAB would
add its own user database (a second place for people) and new pins; this class keeps
Airflow's login page and JWT handling and changes only *who* may sign in and *what* a
role may do:

- ``operator`` → Airflow role ADMIN: everything, every DAG, approving four-eyes holds.
- ``tenant`` and ``auditor`` → no Airflow role: no DAGs, runs, logs, connections or
  variables (DAG runs and task logs carry other tenants' data); only the BBX custom view
  (the plugin's pages under ``/bbx``), where BBX itself limits a tenant user to their
  tenant and an auditor to reading without personal content (``bbx.api.auth``).

Users from ``[core] simple_auth_manager_users`` (the stack's ``admin`` for the demo)
still sign in as before; a BBX account of the same name wins.
"""


import logging
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

log = logging.getLogger(__name__)

BBX_VIEW = "BBX"  # bbx.api.auth.AIRFLOW_RESOURCE: the plugin's pages
AIRFLOW_ROLE = {"operator": "ADMIN", "tenant": None, "auditor": None}


class BbxUser(SimpleAuthManagerUser):
    """An Airflow user that knows its BBX role and tenant (also carried in the JWT)."""

    def __init__(self, *, username: str, role: str | None, teams: list[str] | None = None,
                 bbx_role: str | None = None, tenant: str | None = None) -> None:
        super().__init__(username=username, role=role, teams=teams)
        self.bbx_role = bbx_role
        self.tenant = tenant

    def __eq__(self, other):
        return super().__eq__(other) and getattr(other, "bbx_role", None) == self.bbx_role

    def __hash__(self):
        return hash(self.username)


def bbx_user(person) -> BbxUser:
    """The Airflow user of a BBX account (``bbx.store.users.User``)."""
    return BbxUser(username=person.username, role=AIRFLOW_ROLE[person.role], bbx_role=person.role,
                   tenant=person.tenant_code)


def sign_in(username: str, password: str) -> BbxUser | None:
    """A BBX account's Airflow user, when the name and password are right."""
    from bbx.store import db, users

    with db.connect() as conn:
        person = users.authenticate(conn, username, password)
        conn.commit()  # last_sign_in_at
    return bbx_user(person) if person else None


class BbxAuthManager(SimpleAuthManager):
    bbx_accounts = True  # bbx.api.auth: take role and tenant from BBX's database

    def deserialize_user(self, token: dict[str, Any]) -> BbxUser:
        return BbxUser(username=token["sub"], role=token.get("role"), teams=token.get("teams"),
                       bbx_role=token.get("bbx_role"), tenant=token.get("bbx_tenant"))

    def serialize_user(self, user: SimpleAuthManagerUser) -> dict[str, Any]:
        out = super().serialize_user(user)
        bbx_role = getattr(user, "bbx_role", None)
        if bbx_role is None and self._is_admin(user):
            bbx_role = "operator"  # a configured admin (the stack's demo admin)
        out.update(bbx_role=bbx_role, bbx_tenant=getattr(user, "tenant", None))
        return out

    # ----------------------------------------------------------------- who may see what

    def is_authorized_custom_view(self, *, method, resource_name: str, user: SimpleAuthManagerUser) -> bool:
        bbx_role = getattr(user, "bbx_role", None)
        if resource_name == BBX_VIEW and bbx_role in ("tenant", "auditor", "operator"):
            return True  # the pages decide per role (bbx.api.auth)
        return super().is_authorized_custom_view(method=method, resource_name=resource_name, user=user)

    def is_authorized_view(self, *, access_view: AccessView, user: SimpleAuthManagerUser) -> bool:
        if getattr(user, "bbx_role", None) in ("tenant", "auditor"):
            return access_view == AccessView.WEBSITE  # the UI's frame, to reach the BBX pages; nothing else
        return super().is_authorized_view(access_view=access_view, user=user)

    def filter_authorized_menu_items(self, menu_items, *, user: SimpleAuthManagerUser):
        if getattr(user, "bbx_role", None) in ("tenant", "auditor"):
            return []  # no Airflow menus (DAGs, Browse, Admin); the plugin's BBX links stay
        return super().filter_authorized_menu_items(menu_items, user=user)

    # ----------------------------------------------------------------- sign-in

    def get_fastapi_app(self):
        """Airflow's login app, with the token routes checking BBX accounts first."""
        from airflow.api_fastapi.auth.managers.simple.datamodels.login import (
            LoginBody,
            LoginResponse,
        )
        from airflow.api_fastapi.auth.managers.simple.services.login import SimpleAuthManagerLogin
        from airflow.api_fastapi.auth.managers.simple.utils import parse_login_body
        from airflow.configuration import conf
        from fastapi import Depends, HTTPException, status
        from fastapi.concurrency import run_in_threadpool

        app = super().get_fastapi_app()
        manager = self

        async def token(body: LoginBody, expiry: int) -> LoginResponse:
            try:
                user = await run_in_threadpool(sign_in, body.username or "", body.password or "")
            except Exception as exc:  # BBX's database unreachable: configured users can still sign in
                log.error("BBX accounts unavailable for sign-in: %s", type(exc).__name__)
                user = None
            if user is not None:
                return LoginResponse(access_token=manager.generate_jwt(user=user, expiration_time_in_seconds=expiry))
            try:  # a configured Airflow user (the stack's admin)
                return LoginResponse(access_token=SimpleAuthManagerLogin.create_token(
                    body=body, expiration_time_in_seconds=expiry))
            except FileNotFoundError:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid credentials") from None

        async def create_token(body: Annotated[LoginBody, Depends(parse_login_body)]) -> LoginResponse:
            return await token(body, conf.getint("api_auth", "jwt_expiration_time"))

        async def create_token_cli(body: LoginBody) -> LoginResponse:
            return await token(body, conf.getint("api_auth", "jwt_cli_expiration_time"))

        app.add_api_route("/token", create_token, methods=["POST"], status_code=201, include_in_schema=False)
        app.add_api_route("/token/cli", create_token_cli, methods=["POST"], status_code=201, include_in_schema=False)
        # first match wins: ours before Airflow's routes of the same path
        routes = app.router.routes
        for _ in range(2):
            routes.insert(0, routes.pop())
        return app
