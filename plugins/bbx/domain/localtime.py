"""BBX's one time zone: the Netherlands.

Calendar days (register dates, send dates, report periods), the times in result files
and on the pages, the DAG schedules, and Logius timestamps that arrive without a zone
are all Dutch time. The database keeps UTC (``timestamptz``)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

TIMEZONE_NAME = "Europe/Amsterdam"
TIMEZONE = ZoneInfo(TIMEZONE_NAME)
