"""The simulator's clock: the real date, or a simulated one set by a test.

Subscriptions change per day, and MijnOverheid's date rules (PublicatieDatum at most
13 days ahead, AanmaakDatum at most 13 days back) are relative to "now". A register
refresh test sets day N, then N+1, and sees the changes in between; the time of day
stays the real one, in Dutch time.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Europe/Amsterdam")


class Clock:
    def __init__(self, today: date | None = None) -> None:
        self._lock = threading.Lock()
        self._today = today

    @property
    def simulated(self) -> date | None:
        return self._today

    def set_today(self, today: date | None) -> None:
        """Simulate ``today`` (``None`` = back to the real date)."""
        with self._lock:
            self._today = today

    def now(self) -> datetime:
        """The current moment, on the simulated date when one is set (aware, Dutch time)."""
        real = datetime.now(TZ)
        today = self._today
        if today is None:
            return real
        return datetime.combine(today, real.timetz()).replace(tzinfo=TZ)

    def today(self) -> date:
        today = self._today
        return today if today is not None else datetime.now(TZ).date()


def xml_datetime(moment: datetime) -> str:
    """An xs:dateTime with milliseconds and offset, as Logius writes them."""
    return moment.isoformat(timespec="milliseconds")
