"""Scheduling a send (issue 18): ``send_at`` (not before this moment) and the
``PublicatieDatum`` (the day the citizen sees the letter), checked once for every channel.

- ``send_at`` may lie at most :data:`MAX_SEND_AT_DAYS_AHEAD` days ahead: until then the
  personal texts and PDFs wait, encrypted, in BBX's database; a far-off send is a letter
  a tenant would better hand in later. A moment in the past means "now" (clock skew of a
  client is no error) and is stored as no schedule;
- the publication date lies on or after the send day and at most
  ``limits.MAX_PUBLICATION_DAYS_AHEAD`` (13, the contract's) days after it: MijnOverheid
  refuses a later one with ``PublicatieDatumLigtTeVerInDeToekomst`` (interface.md §3).

Time zones: the web service and ``manifest.json`` are written by programs and give the
offset (``+01:00``, ``Z``); the manual page and the ``READY`` marker are typed by people,
and a moment without an offset there is Dutch time (Europe/Amsterdam). A Dutch time
that does not exist (the hour the clocks go forward) or occurs twice (the hour they go
back) is refused rather than guessed.

The batch's ``AanmaakDatum`` is the moment it is built, at send time, so a scheduled
send never runs into ``AanmaakDatumLigtTeVerInHetVerleden``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from bbx.domain import limits
from bbx.domain.localtime import TIMEZONE
from bbx.i18n import _

MAX_SEND_AT_DAYS_AHEAD = 30


@dataclass(frozen=True)
class Schedule:
    send_at: datetime | None  # None: as soon as possible
    publication_date: date | None  # None: publish at once
    # send_at as asked, also a moment already past (then send_at is None): what a repeated
    # request is compared by (:func:`repeats`)
    asked_send_at: datetime | None = field(default=None, compare=False, repr=False)


NOW = Schedule(None, None)  # no schedule: sent as soon as possible, published at once


class ScheduleError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def check(send_at: datetime | None, publication_date: date | None, *, now: datetime | None = None) -> Schedule:
    """The schedule to store, or :class:`ScheduleError` naming the field and what to do."""
    now = now or datetime.now(TIMEZONE)
    asked = send_at
    if send_at is not None:
        if send_at.tzinfo is None:
            raise ScheduleError("send_at", _("send_at needs a time zone, e.g. 2026-05-01T08:00:00+02:00."))
        if send_at > now + timedelta(days=MAX_SEND_AT_DAYS_AHEAD):
            raise ScheduleError("send_at", _("send_at may lie at most {days} days ahead; hand the letter in "
                                             "later.", days=MAX_SEND_AT_DAYS_AHEAD))
        if send_at <= now:
            send_at = None
    if publication_date is not None:
        send_day = (send_at or now).astimezone(TIMEZONE).date()
        if publication_date < send_day:
            raise ScheduleError("publication_date", _("publication_date {day} lies before the send day {send}; "
                                                      "leave it out to publish at once.",
                                                      day=publication_date.isoformat(), send=send_day.isoformat()))
        latest = send_day + timedelta(days=limits.MAX_PUBLICATION_DAYS_AHEAD)
        if publication_date > latest:
            raise ScheduleError("publication_date", _(
                "publication_date may lie at most {days} days after the send day ({latest} for a send on "
                "{send}): MijnOverheid refuses a later one.", days=limits.MAX_PUBLICATION_DAYS_AHEAD,
                latest=latest.isoformat(), send=send_day.isoformat()))
    return Schedule(send_at, publication_date, asked_send_at=asked)


def repeats(asked: Schedule, stored: Schedule, *, handed_in_at: datetime) -> bool:
    """Whether a request repeated under an idempotency key asks for the schedule its first
    hand-in stored: the asked values judged as at that hand-in (a moment that was past then
    meant "now" then too), so a retry after the moment came is still the same request."""
    try:
        again = check(asked.asked_send_at or asked.send_at, asked.publication_date, now=handed_in_at)
    except ScheduleError:
        return False  # not even allowed then: not what was handed in
    return again == stored


def parse_send_at(text: str | None, *, dutch_time: bool) -> datetime | None:
    """``send_at`` as a person or program wrote it (ISO 8601, ``T`` or a space between date
    and time). ``dutch_time``: a moment without an offset is Europe/Amsterdam time;
    otherwise it needs one (the web service's rule)."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or len(text) <= len("2026-05-01"):  # a date alone is no moment
        if dutch_time:
            raise ScheduleError("send_at", _("send_at {value} is not a date and time: write it as "
                                             "2026-05-01 08:00 (Dutch time).", value=repr(text)))
        raise ScheduleError("send_at", _("send_at {value} is not a date and time: write it as "
                                         "2026-05-01T08:00:00+02:00.", value=repr(text)))
    if moment.tzinfo is not None or not dutch_time:
        return moment
    return _dutch(moment)


def _dutch(naive: datetime) -> datetime:
    earlier, later = naive.replace(tzinfo=TIMEZONE, fold=0), naive.replace(tzinfo=TIMEZONE, fold=1)
    shown = naive.strftime("%Y-%m-%d %H:%M")
    if earlier.astimezone(UTC).astimezone(TIMEZONE).replace(tzinfo=None) != naive:
        raise ScheduleError("send_at", _("send_at {moment} does not exist in Dutch time (the clocks go forward "
                                         "that night): choose another time.", moment=shown))
    if earlier.utcoffset() != later.utcoffset():
        raise ScheduleError("send_at", _("send_at {moment} occurs twice in Dutch time (the clocks go back that "
                                         "night): choose another time, or give the offset (+02:00 for the first, "
                                         "+01:00 for the second).", moment=shown))
    return earlier


def parse_publication_date(text: str | None) -> date | None:
    """``publication_date`` as written: a day, ``2026-05-01``."""
    if text is None or not text.strip():
        return None
    try:
        if len(text.strip()) == len("2026-05-01"):
            return date.fromisoformat(text.strip())
    except ValueError:
        pass
    raise ScheduleError("publication_date", _("publication_date {value} is not a day: write it as 2026-05-01 "
                                              "(year-month-day).", value=repr(text.strip())))


def from_text(send_at: str | None, publication_date: str | None, *, dutch_time: bool,
              now: datetime | None = None) -> Schedule:
    """A schedule typed or written as text (manual page, drop marker), parsed and checked."""
    return check(parse_send_at(send_at, dutch_time=dutch_time), parse_publication_date(publication_date), now=now)
