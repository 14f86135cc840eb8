"""The register day has one rule (``due_register_day``): the demo refreshes up to it and its
"already refreshed" shortcut checks the same day, also before 05:00 Dutch time."""

from __future__ import annotations

from datetime import UTC, date, datetime

from register_helpers import Driver

from bbx.demo import register as demo_register
from bbx.domain import register as rules


def test_the_register_day_is_yesterday_until_the_0500_run_is_due():
    # winter: 05:00 Amsterdam is 04:00 UTC; summer: 03:00 UTC
    assert rules.due_register_day(datetime(2026, 12, 4, 3, 59, tzinfo=UTC)) == date(2026, 12, 3)
    assert rules.due_register_day(datetime(2026, 12, 4, 4, 0, tzinfo=UTC)) == date(2026, 12, 4)
    assert rules.due_register_day(datetime(2026, 7, 4, 2, 59, tzinfo=UTC)) == date(2026, 7, 3)
    assert rules.due_register_day(datetime(2026, 7, 4, 3, 0, tzinfo=UTC)) == date(2026, 7, 4)
    # 23:30 UTC is already the next Dutch day, before its 05:00
    assert rules.due_register_day(datetime(2026, 12, 4, 23, 30, tzinfo=UTC)) == date(2026, 12, 4)


def test_the_demo_shortcut_applies_once_the_day_it_refreshes_up_to_is_applied(driver: Driver, database_url):
    day = demo_register.last_register_day()
    assert day == rules.due_register_day(datetime.now(UTC))
    assert not demo_register._register_done(database_url)
    driver.refresh(day)
    assert demo_register._register_done(database_url)  # before 05:00 too: the same day
