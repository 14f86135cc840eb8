"""The BBX FastAPI app: web service v1 + pages. ``bbx/plugin.py`` mounts it at ``/bbx``
in the Airflow api-server; tests and ``python -m bbx.api.app`` run it on its own."""

from __future__ import annotations

import argparse
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from bbx.api import (
    audit_routes,
    client_certs,
    errors,
    language,
    pages,
    pages_accounts,
    pages_audit,
    pages_callbacks,
    pages_cancel,
    pages_reports,
    pages_standard_texts,
    preview,
    routes,
)
from bbx.api import callbacks as callback_routes
from bbx.api import control as control_routes
from bbx.api import population as population_routes
from bbx.api.errors import ApiError
from bbx.api.limits import (
    MAX_POPULATION_REQUEST_BYTES,
    MAX_REQUEST_BYTES,
    MAX_STREAMED_SEND_BYTES,
    POPULATION_PATH_SUFFIX,
    SEND_PATH_SUFFIXES,
)
from bbx.i18n import _

API_DESCRIPTION = f"""BBX's web service for tenants' systems: send messages to citizens' MijnOverheid
Berichtenbox, follow each submission to its outcome per BSN, look up a BSN, and fetch reports.

**Authentication**: every request carries the tenant's API key, `Authorization: Bearer <key>`
(or `X-API-Key: <key>`), or — when your operator enabled it — a client certificate (mTLS) with your
connection's OIN as subject serialNumber. A key or certificate sees only its own tenant's connections
and submissions.

**Errors**: 4xx responses have the body `{{"error": {{"code", "message", "details"?}}}}`; `code` is
stable and machine-readable, `message` says what to do. Requests are limited to
{MAX_REQUEST_BYTES // (1024 * 1024)} MB.

Dates are calendar dates in Dutch time; periods include both ends. See docs/api.md for more.
"""

_PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages only (not /api/v1/docs and /redoc, whose pages have inline scripts). frame-ancestors
    # 'self': the Airflow UI shows the pages in a frame on the same origin.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'self'; form-action 'self'; base-uri 'none'",
}


class RequestTooLarge(ApiError):
    def __init__(self):
        super().__init__(413, "request_too_large",
                         _("The request body is larger than {mb} MB. Split it over several requests.",
                           mb=MAX_REQUEST_BYTES // (1024 * 1024)))


class LimitBody:
    """Refuse request bodies over ``max_bytes`` (by Content-Length, or while streaming)."""

    def __init__(self, app, max_bytes: int = MAX_REQUEST_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = self.max_bytes
        if scope.get("path", "").endswith(POPULATION_PATH_SUFFIX):  # a population list may be ~1 M BSNs
            max_bytes = max(max_bytes, MAX_POPULATION_REQUEST_BYTES)
        elif scope.get("path", "").endswith(SEND_PATH_SUFFIXES) and scope.get("method") == "POST" and dict(
                scope.get("headers") or []).get(b"content-type", b"").lower().startswith(b"multipart/form-data"):
            max_bytes = max(max_bytes, MAX_STREAMED_SEND_BYTES)  # read streamed (bbx.api.streamed)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            exc = RequestTooLarge()
            response = JSONResponse({"error": exc.as_dict()}, status_code=413, headers={"Connection": "close"})
            return await response(scope, receive, send)
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise RequestTooLarge()
            return message

        return await self.app(scope, limited, send)


class SecurityHeaders:
    """Security headers on every response of the pages (plain ASGI, no body buffering)."""

    def __init__(self, app):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in _PAGE_HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, root = scope.get("path", ""), scope.get("root_path", "")
        relative = path[len(root):] if root and path.startswith(root) else path
        if relative.startswith(("/api/v1/docs", "/api/v1/redoc")):
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in self.headers if k not in present)]
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def _relative_path(request: Request) -> str:
    path, root = request.scope.get("path", ""), request.scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def _is_api(request: Request) -> bool:
    return _relative_path(request).startswith("/api/")


def create_app() -> FastAPI:
    app = FastAPI(
        title="BBX web service",
        version="1",
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served below from the package, not from a CDN
        redoc_url=None,
        openapi_tags=[
            {"name": "sending", "description": "hand in messages"},
            {"name": "submissions", "description": "what was handed in, and what became of each row"},
            {"name": "lookup", "description": "everything about one BSN"},
            {"name": "reports", "description": "counts per period (JSON or CSV)"},
            {"name": "connections", "description": "your connections and message types"},
            {"name": "audit", "description": "the audit log (operator and auditor keys)"},
        ],
    )

    async def api_error(request: Request, exc: ApiError):
        if _is_api(request):
            return errors.error_response(exc)
        return pages._render(request, "error.html", None, status_code=exc.status, error=exc)

    async def http_error(request: Request, exc: StarletteHTTPException):
        if _is_api(request):
            return await errors._http_error(request, exc)
        if exc.status_code == 404:
            return pages.not_found_page(request)
        return HTMLResponse(f"<p>{exc.status_code}: {exc.detail}</p>", status_code=exc.status_code)

    async def sign_in(request: Request, exc: pages.SignInRequired):
        return pages.sign_in_redirect(request, exc)

    errors.install(app)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(pages.SignInRequired, sign_in)

    # Innermost first: LimitBody must sit right at the app, so that its error reaches the
    # exception handlers as it is (not wrapped by another middleware's task group).
    app.add_middleware(LimitBody)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(language.RequestLanguage)  # outermost: every handler and error in the request's language

    @app.get("/api/v1/health", tags=["connections"], summary="Liveness: the app runs and reaches its database",
             responses={503: {"model": routes.models.ErrorBody}})
    def health():
        from bbx.store import db

        try:
            with db.connect() as conn:
                db.ping(conn)
        except Exception as exc:
            raise ApiError(503, "database_unavailable",
                           _("BBX's database cannot be reached: {problem}.", problem=type(exc).__name__)) from None
        return {"status": "ok", "app": "bbx", "api_version": "1"}

    app.include_router(routes.router)
    app.include_router(control_routes.router)
    app.include_router(callback_routes.router)
    app.include_router(population_routes.router)
    app.include_router(preview.router)
    app.include_router(audit_routes.router)
    app.include_router(pages_cancel.router)
    app.include_router(pages.router)
    app.include_router(pages_accounts.router)
    app.include_router(pages_audit.router)
    app.include_router(pages_callbacks.router)
    app.include_router(pages_reports.router)
    app.include_router(pages_standard_texts.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    _offline_docs(app)
    return app


# API-key schemes of the web service (bbx.api.auth reads both headers): declared in the
# OpenAPI file so Swagger UI's *Authorize* sends the key with every "Try it out".
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "Your API key as `Authorization: Bearer <key>` (bbx api-key create)"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "Or the same key in the X-API-Key header"},
}
_PUBLIC_PATHS = ("/api/v1/health",)


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI and ReDoc from the installed package ``fastapi_offline`` (its copies of
    swagger-ui-dist and redoc), so the docs work without internet."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.openapi.utils import get_openapi

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/api/v1/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes, tags=app.openapi_tags)
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            schema["security"] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
            for path in _PUBLIC_PATHS:
                for operation in schema["paths"].get(path, {}).values():
                    operation["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

    @app.get("/api/v1/docs", include_in_schema=False)
    def swagger_ui(request: Request):
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/api/v1/openapi.json", title="BBX web service — Swagger UI",
            swagger_js_url=f"{root}/api/v1/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/api/v1/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/api/v1/docs-assets/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True})

    @app.get("/api/v1/redoc", include_in_schema=False)
    def redoc(request: Request):
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}/api/v1/openapi.json", title="BBX web service — ReDoc",
            redoc_js_url=f"{root}/api/v1/docs-assets/redoc.standalone.js",
            redoc_favicon_url=f"{root}/api/v1/docs-assets/favicon.png", with_google_fonts=False)


def main(argv: list[str] | None = None) -> int:
    """Run the app on its own (development; in production it runs inside the Airflow api-server)."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bbx.api.app", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    tls = parser.add_argument_group("TLS (optional); client certificates: bbx.api.client_certs")
    tls.add_argument("--ssl-certfile", help="server certificate (PEM): serve HTTPS")
    tls.add_argument("--ssl-keyfile", help="its private key (PEM)")
    tls.add_argument("--ssl-ca-certs", help="CAs of tenants' client certificates (PEM); also BBX_API_CLIENT_CA")
    tls.add_argument("--ssl-cert-reqs", choices=("none", "optional", "required"), default="optional",
                     help="optional (default): API keys still work; required: every caller needs a certificate")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, **client_certs.uvicorn_options(
        args.ssl_certfile, args.ssl_keyfile, args.ssl_ca_certs, args.ssl_cert_reqs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
