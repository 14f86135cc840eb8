"""Errors of the web service: a machine-readable ``code`` and a human ``message``.

Every error response has the same shape::

    {"error": {"code": "invalid_bsns", "message": "...", "details": [...]}}

``message`` is in the request's language (``bbx.api.language``: Dutch by default); the
``code`` is the same in every language. ``details`` is optional (per-item problems, e.g. each bad BSN with its position). When a
send request has several problems at once, ``errors`` lists all of them and ``error``
is the first. The codes are documented in ``docs/api.md``; tests cover each one.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bbx.i18n import _


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, details: list[Any] | None = None,
                 field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.field = field  # which form field it is about (pages show it next to the field)
        self.headers = headers

    def as_dict(self) -> dict:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class ApiErrors(ApiError):
    """Several problems found in one request (all reported at once)."""

    def __init__(self, problems: list[ApiError]):
        first = problems[0]
        super().__init__(first.status, first.code, first.message, details=first.details, field=first.field)
        self.problems = problems


def error_response(exc: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"error": exc.as_dict()}
    if isinstance(exc, ApiErrors) and len(exc.problems) > 1:
        body["errors"] = [p.as_dict() for p in exc.problems]
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def _http_codes() -> dict[int, tuple[str, str]]:
    """Codes for Starlette's own HTTP errors (unknown path, wrong method, ...)."""
    return {
        400: ("bad_request", _("The request is malformed.")),
        401: ("unauthenticated", _("Authentication is required.")),
        403: ("forbidden", _("You may not do this.")),
        404: ("not_found", _("There is nothing at this address; see /api/v1/docs for the endpoints.")),
        405: ("method_not_allowed", _("This endpoint does not accept this HTTP method; see /api/v1/docs.")),
        413: ("request_too_large", _("The request body is too large.")),
        415: ("unsupported_media_type", _("The request body has a content type this endpoint does not accept.")),
    }


def _loc(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


async def _api_error(request: Request, exc: ApiError):
    return error_response(exc)


async def _validation_error(request: Request, exc: RequestValidationError):
    details = []
    for err in exc.errors():
        details.append({"location": _loc(err.get("loc", ())), "problem": err.get("msg", "invalid")})
    where = ", ".join(d["location"] for d in details[:5])
    return error_response(ApiError(
        422, "invalid_request",
        _("The request does not match the API description ({where}): see details and /api/v1/docs.", where=where),
        details=details,
    ))


async def _http_error(request: Request, exc: StarletteHTTPException):
    code, message = _http_codes().get(exc.status_code, ("http_error", _("The request failed.")))
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = ""
    if exc.detail and str(exc.detail) != phrase:  # a specific reason, e.g. from the multipart parser
        message = str(exc.detail)
    return error_response(ApiError(exc.status_code, code, message, headers=getattr(exc, "headers", None)))


def install(app) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
