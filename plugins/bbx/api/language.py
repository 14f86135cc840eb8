"""The language of a web-service or page request (``bbx.i18n`` holds the seam).

In this order, the first that names Dutch or English wins:

1. ``?lang=nl|en`` in the address (the pages' NL/EN switch; also remembered in the
   ``bbx_lang`` cookie for the following pages),
2. the ``bbx_lang`` cookie,
3. the ``Accept-Language`` header (its highest-weighted supported language),
4. the tenant's own setting (``language`` of its connections, see
   :func:`bbx.store.administration.tenant_language`), applied once the caller is known,
5. Dutch.

Responses say the language they are in (``Content-Language``).
"""

from __future__ import annotations

from functools import cache
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from bbx import i18n

COOKIE = "bbx_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
STATIC_JS = Path(__file__).parent / "static" / "bbx.js"


def from_accept_language(header: str | None) -> str | None:
    """The supported language an ``Accept-Language`` header prefers most, or None."""
    best, best_q = None, 0.0
    for part in (header or "").split(","):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _eq, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = i18n.supported(tag)
        if lang and q > best_q:  # ties: the first listed
            best, best_q = lang, q
    return best


def choose(query_string: bytes, headers: dict[bytes, bytes]) -> tuple[str | None, bool]:
    """(the language the request asks for or None, whether it came from ``?lang=``)."""
    asked = dict(parse_qsl(query_string.decode("latin-1"))).get("lang")
    if lang := i18n.supported(asked):
        return lang, True
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed Cookie header: as if there were none
        cookie = SimpleCookie()
    if COOKIE in cookie and (lang := i18n.supported(cookie[COOKIE].value)):
        return lang, False
    return from_accept_language(headers.get(b"accept-language", b"").decode("latin-1")), False


class RequestLanguage:
    """Plain ASGI middleware: every request runs inside ``i18n.language(...)``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        lang, switched = choose(scope.get("query_string", b""), headers)
        root = scope.get("root_path", "").rstrip("/") or "/"

        async def send_with_language(message):
            if message["type"] == "http.response.start":
                extra = [(b"content-language", i18n.current_language().encode())]
                if switched:
                    extra.append((b"set-cookie", f"{COOKIE}={lang}; Path={root}; Max-Age={COOKIE_MAX_AGE}; "
                                                 "SameSite=Lax".encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        with i18n.language(lang, explicit=lang is not None):
            return await self.app(scope, receive, send_with_language)


def settle(conn, principal) -> None:
    """The caller is known: its tenant's setting applies unless the request chose."""
    if principal is None or principal.tenant_id is None or i18n.is_explicit():
        return
    from bbx.store import administration

    i18n.prefer(administration.tenant_language(conn, principal.tenant_id))


def language_url(request, lang: str) -> str:
    """This page in ``lang`` (the NL/EN switch): the same address with ``lang`` replaced."""
    query = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "lang"]
    return f"{request.url.path}?{urlencode([*query, ('lang', lang)])}"


@cache
def _js_ids() -> tuple[str, ...]:
    """The texts ``static/bbx.js`` marks with ``T("...")`` (extracted like the rest)."""
    from babel.messages.extract import extract_javascript

    with STATIC_JS.open("rb") as f:
        found = (m[0] if isinstance(m, tuple) else m for _line, _func, m, _comments
                 in extract_javascript(f, {"T": None}, (), {}))  # T("id", {params}): the id
        return tuple(dict.fromkeys(m for m in found if isinstance(m, str) and m))


def js_texts() -> dict[str, str]:
    """msgid → text in the current language, for the pages' JavaScript."""
    return {m: i18n._(m) for m in _js_ids()}


def install(templates) -> None:
    i18n.install_jinja(templates.env)
    templates.env.globals["language_url"] = language_url
    templates.env.globals["js_texts"] = js_texts
