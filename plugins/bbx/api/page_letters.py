"""The manual page's part in personal letters: the values of a fill-in template (typed as
``name: value`` lines, the same for every BSN of the form), the schedule ("send at",
"publication date") and the preview of the letter as it would be sent. Kept out of
``pages.py`` (its size); the rules are those of every channel (:mod:`bbx.api.sending`,
:mod:`bbx.domain.templates`, :mod:`bbx.domain.schedule`)."""

from __future__ import annotations

from bbx.api import sending
from bbx.api.errors import ApiError
from bbx.domain import schedule as schedule_rules
from bbx.i18n import _


def parse_values(text: str) -> tuple[dict[str, str], list[ApiError]]:
    """``naam: J. Jansen`` per line (or ``naam = ...``) → {naam: J. Jansen}, or the problems."""
    values: dict[str, str] = {}
    bad = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":") if ":" in line else line.partition("=")
        name = name.strip().strip("()").strip()
        if not sep or not name:
            bad.append(number)
            continue
        values[name] = value.strip()
    if bad:
        return {}, [ApiError(422, "values_invalid", _(
            "Line {lines} of the values is not 'name: value' (for example 'naam: J. Jansen').",
            lines=", ".join(str(n) for n in bad)), field="values")]
    return values, []


def schedule(conn, connection: dict | None, token: str, send_at: str,
             publication_date: str) -> tuple[schedule_rules.Schedule, list[ApiError]]:
    """The form's schedule: typed by a person, so a time is Dutch time (the page says so);
    a form sent again (its token) is judged as at its first hand-in (``sending.schedule_for``)."""
    try:
        if connection is None:
            return schedule_rules.from_text(send_at, publication_date, dutch_time=True), []
        return sending.schedule_for(conn, connection, channel="manual", external_ref=token,
                                    check=schedule_rules.from_text, send_at=send_at,
                                    publication_date=publication_date, dutch_time=True), []
    except schedule_rules.ScheduleError as exc:
        return schedule_rules.NOW, [sending.schedule_problem(exc)]


def send_request(type_code: str, bsns: list[str], text: str | None, reference: str | None,
                 uploads: tuple, values: dict[str, str]) -> sending.SendRequest:
    """The form as a send request: with values, a letter per BSN filled with them."""
    messages = tuple(sending.Personal(b, values=values) for b in bsns) if values else None
    return sending.SendRequest(message_type=type_code, bsns=bsns, text=text, reference=reference,
                               uploads=uploads, uploads_for_every_bsn=True, messages=messages)


def preview(prepared: sending.Prepared) -> dict:
    """The first letter as it would be stored and sent."""
    row, message_type = prepared.rows[0], prepared.message_type
    return {"rows": len(prepared.rows), "subject": row.subject or message_type["subject"],
            "text": row.text if row.text is not None else message_type["standard_text"],
            "reference": row.reference, "attachments": [a.file_name for a in row.attachments]}
