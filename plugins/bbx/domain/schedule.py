"""Scheduling a send (issue 18): ``send_at`` (not before this moment) and the
``PublicatieDatum`` (the day the citizen sees the letter), checked once for every channel.

- ``send_at`` may lie at most :data:`MAX_SEND_AT_DAYS_AHEAD` days ahead: until then the
  personal texts and PDFs wait, encrypted, in BBX's database; a far-off send is a letter
  a tenant would better hand in later. A moment in the past means "now" (clock skew of a
  client is no error) and is stored as no schedule;
- the publication date lies on or after the send day and at most
  ``limits.MAX_PUBLICATION_DAYS_AHEAD`` (13, the contract's) days after it: MijnOverheid
  refuses a later one with ``PublicatieDatumLigtTeVerInDeToekomst`` (interface.md §3).

The batch's ``AanmaakDatum`` is the moment it is built, at send time, so a scheduled
send never runs into ``AanmaakDatumLigtTeVerInHetVerleden``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bbx.domain import limits
from bbx.domain.localtime import TIMEZONE
from bbx.i18n import _

MAX_SEND_AT_DAYS_AHEAD = 30


@dataclass(frozen=True)
class Schedule:
    send_at: datetime | None  # None: as soon as possible
    publication_date: date | None  # None: publish at once


class ScheduleError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def check(send_at: datetime | None, publication_date: date | None, *, now: datetime | None = None) -> Schedule:
    """The schedule to store, or :class:`ScheduleError` naming the field and what to do."""
    now = now or datetime.now(TIMEZONE)
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
    return Schedule(send_at, publication_date)
