"""bbx.domain.register: pure rules, no database, network or Airflow."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bbx.domain import bsn as bsn_rules
from bbx.domain import register as rules

pytestmark = pytest.mark.usefixtures("english")  # these tests pin the English wording


def test_the_register_day_is_the_dutch_calendar_day():
    # 05:00 Amsterdam on 2 March is 04:00 UTC; 23:30 UTC on 1 March is 00:30 on 2 March
    assert rules.register_day(datetime(2026, 3, 2, 4, 0, tzinfo=UTC)) == date(2026, 3, 2)
    assert rules.register_day(datetime(2026, 3, 1, 23, 30, tzinfo=UTC)) == date(2026, 3, 2)
    assert rules.register_day(None, datetime(2026, 7, 1, 22, 30, tzinfo=UTC)) == date(2026, 7, 2)  # summer time
    with pytest.raises(ValueError):
        rules.register_day(datetime(2026, 3, 2, 4, 0))
    with pytest.raises(ValueError):
        rules.register_day(None, None)


def test_plan_asks_the_full_list_first_then_changes_since_the_last_snapshot():
    day = date(2026, 3, 2)
    snapshot = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
    first = rules.plan_request("pf_zorg", day, None)
    assert (first.kind, first.since) == (rules.FULL, None)
    later = rules.plan_request("pf_zorg", day, snapshot)
    assert (later.kind, later.since) == (rules.CHANGES, snapshot)
    assert rules.plan_request("pf_zorg", day, snapshot, force_full=True).kind == rules.FULL
    # the VerzoekId is deterministic per connection, day, kind and attempt
    assert later.request_id == rules.plan_request("pf_zorg", day, snapshot).request_id
    ids = {later.request_id, first.request_id, rules.plan_request("pf_zorg", day, snapshot, attempt=2).request_id,
           rules.plan_request("pf_metaal", day, snapshot).request_id,
           rules.plan_request("pf_zorg", day + timedelta(days=1), snapshot).request_id}
    assert len(ids) == 5


def test_ask_again_after_a_failure_or_a_long_silence_only():
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert rules.ask_again("failed", True, now, now)
    assert not rules.ask_again("requested", True, now - timedelta(hours=7), now)
    assert rules.ask_again("requested", True, now - timedelta(hours=9), now)
    assert not rules.ask_again("requested", False, now - timedelta(hours=9), now)  # never sent: send it
    assert not rules.ask_again("answered", True, now - timedelta(days=3), now)


def test_judge_answer():
    t0 = datetime(2026, 3, 1, 5, tzinfo=UTC)
    t1, t2 = t0 + timedelta(days=1), t0 + timedelta(days=2)
    assert rules.judge_answer(rules.FULL, None, t1, None) == rules.APPLY
    assert rules.judge_answer(rules.FULL, None, t1, t2) == rules.SUPERSEDED
    assert rules.judge_answer(rules.CHANGES, t0, t2, t1) == rules.APPLY  # overlapping window: fine
    assert rules.judge_answer(rules.CHANGES, t1, t2, t1) == rules.APPLY
    assert rules.judge_answer(rules.CHANGES, t0, t1, t2) == rules.SUPERSEDED
    with pytest.raises(rules.RegisterError, match="gap"):
        rules.judge_answer(rules.CHANGES, t2, t2 + timedelta(hours=1), t1)
    with pytest.raises(rules.RegisterError, match="never built"):
        rules.judge_answer(rules.CHANGES, t0, t1, None)


def test_check_entry():
    rules.check_entry(1, "249566758", False, date(2026, 1, 1), None)
    rules.check_entry(1, "249566758", True, date(2026, 1, 1), date(2026, 1, 1))
    with pytest.raises(rules.RegisterError, match=r"entry 7 \(\*\*\*\*\*\*758\): DatumEinde 2025-12-31"):
        rules.check_entry(7, "249566758", True, date(2026, 1, 1), date(2025, 12, 31))
    with pytest.raises(rules.RegisterError, match="Beeindigd without DatumEinde"):
        rules.check_entry(2, "249566758", True, date(2026, 1, 1), None)


def test_stale_reason():
    now = datetime(2026, 3, 3, 12, tzinfo=UTC)
    assert rules.stale_reason(connection_code="x", last_applied_at=now - timedelta(hours=36), now=now,
                              stale_after_hours=36) is None
    text = rules.stale_reason(connection_code="pf_zorg", last_applied_at=now - timedelta(hours=50), now=now,
                              stale_after_hours=36)
    assert "pf_zorg is stale" in text and "2026-03-01 11:00" in text and "50 h ago, allowed 36 h" in text
    assert "never been built" in rules.stale_reason(connection_code="x", last_applied_at=None, now=now,
                                                   stale_after_hours=36)


def test_export_names_and_checksum_line():
    assert rules.export_names("pf_zorg", date(2026, 3, 5)) == (
        "register-pf_zorg-2026-03-05.csv", "register-pf_zorg-2026-03-05.csv.sha256")
    assert rules.checksum_line("ab" * 32, "f.csv") == "ab" * 32 + "  f.csv\n"


def test_live_check_batches():
    bsns = list(bsn_rules.generate(600, seed=3))
    batches = rules.live_check_batches(bsns + bsns[:10] + [bsns[0][1:] if bsns[0][0] == "0" else bsns[0]])
    assert [len(b) for b in batches] == [250, 250, 100]
    assert [b for batch in batches for b in batch] == bsns
    with pytest.raises(ValueError, match="BSN 2 .*11-test"):
        rules.live_check_batches([bsns[0], "123456789"])
    with pytest.raises(ValueError, match="at most 1000"):
        rules.live_check_batches(bsn_rules.generate(1001, seed=4))
