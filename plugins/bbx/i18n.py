"""Tenant-facing texts in Dutch (the default) and English: the one seam every channel uses.

Mark a text where it is written, in English (the message id), with named placeholders::

    from bbx.i18n import _
    raise ApiError(404, "unknown_submission", _("Submission {id} does not exist.", id=sid))

``_`` translates into the *current language*: a context variable set per request (the
web service and pages, from the connection's setting or the ``Accept-Language`` header)
or per file (``with language(connection.language): ...`` around writing a result file or
an error report). Outside any such block the language is Dutch.

The catalogues are gettext ``.po`` files under ``bbx/locale/<lang>/LC_MESSAGES/bbx.po``
(one file per language for a translator), read with Babel. Until a text is in the
catalogue, ``_`` returns the English id: a test fails on a text missing in either
catalogue, so that is a defect, not a state to live in. Operators' CLI output and DAG
docs stay English and are not marked.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from functools import cache
from pathlib import Path

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "bbx"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("bbx_language", default=DEFAULT_LANGUAGE)


def current_language() -> str:
    return _current.get()


def normalise(lang: str | None) -> str:
    """``nl``, ``nl-NL``, ``en_GB``, ``EN`` → a supported language; anything else → Dutch."""
    code = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[str]:
    """Texts marked with ``_`` inside the block come out in ``lang``."""
    token = _current.set(normalise(lang))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


@cache
def catalogue(lang: str) -> dict[str, str]:
    """msgid → translation of one language (empty translations left out)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return {}
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        cat = read_po(f, locale=lang)
    return {m.id: m.string for m in cat if m.id and isinstance(m.id, str) and m.string}


def _(msgid: str, /, **params: object) -> str:
    """``msgid`` in the current language, with ``{name}`` placeholders filled from ``params``."""
    text = catalogue(_current.get()).get(msgid, msgid)
    return text.format(**params) if params else text
