"""xs:dateTime / xs:date as the Logius contracts write them, in one place.

BBX writes UTC with millisecond precision and ``Z`` (``2016-02-02T12:23:16.326Z``, as in
Logius's examples) and refuses naive datetimes rather than guessing a zone. It reads
whatever ISO 8601 form arrives, including .NET's 7-digit fractions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

from bbx.domain.localtime import TIMEZONE

# Assumption (the contracts do not say): a timestamp from Logius without a time zone is
# Dutch local time, as MijnOverheid runs in the Netherlands.
LOGIUS_LOCAL_ZONE = TIMEZONE


def format_utc(moment: datetime) -> str:
    """``moment`` as xs:dateTime in UTC with milliseconds and ``Z``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (BBX never guesses a zone)")
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def parse_datetime(value: str | None, *, naive_zone: tzinfo = LOGIUS_LOCAL_ZONE) -> datetime | None:
    """An xs:dateTime, or None when empty or unreadable; no zone means ``naive_zone``."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=naive_zone)


def parse_date(value: str) -> date:
    """An xs:date, ignoring a time-zone suffix (``2024-01-31``, ``2024-01-31Z``,
    ``2024-01-31+01:00``) or a time part. Raises ValueError when unreadable."""
    return date.fromisoformat(value.strip()[:10])
