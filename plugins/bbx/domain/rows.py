"""The rules of one row handed in, the same for every channel (SFTP drop, web service,
manual page): how a text, subject and reference are cleaned and checked, and how a
message type that cannot be used is explained. Pure: no I/O.

Where the channels used to differ, the stricter rule is the one rule:

- a value is stripped of spaces around it; an empty value is "not given";
- a text's line breaks become CR LF (what MijnOverheid wants, ``globe.normalise_text``)
  and the limit counts them as 2; a subject or reference must be one line;
- control characters (Unicode category Cc: DEL, U+0080-U+009F such as U+0085, ...) are
  refused, in a text except tab and line breaks; characters XML cannot carry are refused.

The BSN rule is :mod:`bbx.domain.bsn`, the PDF rules :mod:`bbx.domain.attachments`; the
contract limits are in :mod:`bbx.domain.limits`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bbx.domain.globe import normalise_text, unsendable_character
from bbx.domain.limits import MAX_REFERENCE_CHARS, MAX_SUBJECT_CHARS, MAX_TEXT_CHARS
from bbx.i18n import _


def _the(what: str) -> str:
    """The field a message is about, with its article (Dutch: de tekst, het onderwerp)."""
    return {"text": _("the text"), "subject": _("the subject"), "reference": _("the reference")}.get(what, what)


@dataclass(frozen=True)
class Problem:
    """Why a value cannot be sent: ``field`` (text, subject, reference, message_type),
    ``code`` (too_long, invalid_character — a line break, control or non-XML character —, ...) and the
    ``message`` for the tenant (the same words in every channel)."""

    field: str
    code: str
    message: str


@dataclass(frozen=True)
class Cleaned:
    value: str | None  # None: not given (or refused, then ``problem`` says why)
    problem: Problem | None = None


def clean(raw: str | None, what: str, limit: int, *, multiline: bool) -> Cleaned:
    """A tenant's value as it is stored and sent, or the problem (the first one found)."""
    if raw is None:
        return Cleaned(None)
    value = raw.strip()
    if not value:
        return Cleaned(None)
    if multiline:
        value = normalise_text(value)
        allowed = "\r\n\t"
    else:
        if "\n" in value or "\r" in value:
            return Cleaned(None, Problem(what, "invalid_character",
                                         _("{field} contains a line break; it must be one line", field=_the(what))))
        allowed = ""
    for position, ch in enumerate(value, 1):
        if ch not in allowed and unicodedata.category(ch) == "Cc":
            return Cleaned(None, Problem(what, "invalid_character",
                                         _("{field} contains a control character ({char}) at position {position}",
                                           field=_the(what), char="U+" + format(ord(ch), "04X"), position=position)))
    if problem := unsendable_character(value):
        return Cleaned(None, Problem(what, "invalid_character", f"{_the(what)} {problem}"))
    if len(value) > limit:
        if multiline and "\r\n" in value:
            message = _("{field} is {n} characters (line breaks count as 2: CR LF); at most {max} are allowed",
                        field=_the(what), n=format(len(value), ","), max=format(limit, ","))
        else:
            message = _("{field} is {n} characters; at most {max} are allowed", field=_the(what),
                        n=format(len(value), ","), max=format(limit, ","))
        return Cleaned(None, Problem(what, "too_long", message))
    return Cleaned(value)


def text(raw: str | None) -> Cleaned:
    return clean(raw, "text", MAX_TEXT_CHARS, multiline=True)


def subject(raw: str | None) -> Cleaned:
    return clean(raw, "subject", MAX_SUBJECT_CHARS, multiline=False)


def reference(raw: str | None) -> Cleaned:
    return clean(raw, "reference", MAX_REFERENCE_CHARS, multiline=False)


def content_needed(message_type_code: str) -> Problem:
    """A row of a message type without standard text, with neither text nor personal PDF."""
    return Problem("text", "required", _("message type {type} has no standard text: give a personal text or a "
                                         "personal PDF for this BSN", type=message_type_code))


# --------------------------------------------------------------------------- message types


@dataclass(frozen=True)
class KnownType:
    code: str
    active: bool


def message_type_problem(code: str, connection_code: str, found: KnownType | None,
                         known: list[KnownType]) -> Problem | None:
    """Why ``code`` cannot be used for a hand-in of the connection (None: it can). ``found``
    is the message type of that code (None: unknown), ``known`` all of the connection's."""
    if found is not None and found.active:
        return None
    if found is not None:
        return Problem("message_type", "inactive",
                       _("message type '{type}' is not active for connection {connection}: ask the BBX operator "
                         "to activate it, or use another message type", type=code, connection=connection_code))
    active = [k.code for k in known if k.active]
    hint = next((" " + _("(did you mean {code}?)", code=k.code) for k in known if k.code.lower() == code.lower()), "")
    return Problem("message_type", "unknown",
                   _("message type '{type}' is not known for connection {connection}{hint}; known: {known}",
                     type=code, connection=connection_code, hint=hint, known=", ".join(active) or _("none")))


def connection_inactive(connection_code: str) -> Problem:
    return Problem("connection", "inactive",
                   _("connection {connection} is not active: nothing is handed in through it until the BBX "
                     "operator activates it again", connection=connection_code))


def sentence(message: str) -> str:
    """A rule's message as a sentence (the web service's style): capital, full stop."""
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
