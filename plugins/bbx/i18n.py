"""Tenant-facing texts in Dutch (the default) and English: the one seam every channel uses.

Mark a text where it is written, in English (the message id), with named placeholders::

    from bbx.i18n import _
    raise ApiError(404, "unknown_submission", _("Submission {id} does not exist.", id=sid))

``_`` translates into the *current language*: a context variable set per request (the
web service and pages: ``bbx.api.language``, from the page's NL/EN switch, the
``Accept-Language`` header or the tenant's connection setting) or per file
(``with language(connection["language"]): ...`` around writing a result file or an
error report). Outside any such block the language is Dutch.

The catalogues are gettext ``.po`` files under ``bbx/locale/<lang>/LC_MESSAGES/bbx.po``
(one file per language for a translator), read with Babel and re-extracted from the
code and the Jinja2 templates with ``make messages`` (``scripts/messages.py``). Until a
text is in the catalogue, ``_`` returns the English id: ``tests/unit/test_i18n.py`` fails
on a text missing in either catalogue, so that is a defect, not a state to live in.
Placeholders are ``str.format`` fields (``{name}``), never ``%s``; a translation keeps
the id's placeholders (the same test checks). Operators' CLI output and DAG docs stay
English and are not marked.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "bbx"


@dataclass
class _Choice:
    """The language of one request or file. ``explicit``: asked for (a header, the page
    switch, a file's connection); a tenant's own setting (:func:`prefer`) does not
    override it. Mutable on purpose: a request's choice is one object shared by the
    copies of its context (FastAPI runs sync dependencies in a copied context)."""

    lang: str
    explicit: bool


_current: contextvars.ContextVar[_Choice | None] = contextvars.ContextVar("bbx_language", default=None)


def current_language() -> str:
    choice = _current.get()
    return choice.lang if choice is not None else DEFAULT_LANGUAGE


def normalise(lang: str | None) -> str:
    """``nl``, ``nl-NL``, ``en_GB``, ``EN`` → a supported language; anything else → Dutch."""
    code = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def supported(lang: str | None) -> str | None:
    """The supported language ``lang`` names, or None (unlike :func:`normalise`, no default)."""
    code = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else None


@contextlib.contextmanager
def language(lang: str | None, *, explicit: bool = True) -> Iterator[str]:
    """Texts marked with ``_`` inside the block come out in ``lang``. ``explicit=False``
    (a request without a language asked for): :func:`prefer` may still change it."""
    token = _current.set(_Choice(normalise(lang), explicit))
    try:
        yield current_language()
    finally:
        _current.reset(token)


def in_english(func):
    """An operator's CLI command: texts it shares with the pages (e.g. a refused account
    change) come out in English there, as the rest of the CLI."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with language("en"):
            return func(*args, **kwargs)

    return wrapper


def is_explicit() -> bool:
    """Whether the current language was asked for (not Dutch by default)."""
    choice = _current.get()
    return choice is not None and choice.explicit


def prefer(lang: str | None) -> None:
    """The tenant's own setting, once known (after sign-in): it applies unless the
    request asked for a language explicitly. Outside a request or file block: nothing."""
    choice = _current.get()
    if choice is not None and not choice.explicit and lang:
        choice.lang = normalise(lang)


@cache
def catalogue(lang: str) -> dict[str, str]:
    """msgid → translation of one language (empty and fuzzy translations left out)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return {}
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        cat = read_po(f, locale=lang)
    return {m.id: m.string for m in cat
            if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string and not m.fuzzy}


def _(msgid: str, /, **params: object) -> str:
    """``msgid`` in the current language, with ``{name}`` placeholders filled from ``params``."""
    text = catalogue(current_language()).get(msgid, msgid)
    return text.format(**params) if params else text


def number(value: int | float) -> str:
    """A count as people read it in the current language: ``10.000`` in Dutch, ``10,000``
    in English (Babel's locale data, not a hand-made separator)."""
    from babel.numbers import format_decimal

    return format_decimal(value, locale=current_language())


def local_time(moment: datetime | None, seconds: bool = False, *, zone: bool = True) -> str:
    """A moment as people in the Netherlands read it, with its zone: ``2026-12-02 09:15 (CET)``
    (ISO date, 24-hour clock; CEST in summer). The database keeps UTC."""
    if moment is None:
        return ""
    from bbx.domain.localtime import TIMEZONE

    local = moment.astimezone(TIMEZONE)
    text = local.strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))
    return f"{text} ({local.tzname()})" if zone else text


def install_jinja(env) -> None:
    """Make ``{{ _("English text {name}", name=x) }}`` work in a Jinja2 environment
    (autoescaping escapes the translated text with its values, as any other output)."""
    env.globals["_"] = _
    env.globals["current_language"] = current_language
    env.filters["local"] = local_time
    env.filters["number"] = number
