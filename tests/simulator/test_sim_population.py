"""The deterministic population (no server needed)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bbx.domain.bsn import passes_eleven_test
from simulator.config import ConfigError, PopulationSpec
from simulator.population import NO_END, Population, check_digit

DAY = date(2026, 11, 28)


def test_check_digit_agrees_with_the_eleven_test():
    for prefix in range(12_345_600, 12_345_800):
        digit = check_digit(prefix)
        for d9 in range(10):
            assert passes_eleven_test(f"{prefix * 10 + d9:09d}") == (digit == d9)


def test_exact_size_valid_distinct_and_deterministic():
    population = Population(PopulationSpec(seed=5, size=1234))
    members = [bsn for bsn, _, _ in population.states(date(2100, 1, 1))]
    assert len(members) == len(set(members)) == 1234
    assert all(passes_eleven_test(b) and population.is_member(b) for b in members)
    again = Population(PopulationSpec(seed=5, size=1234))
    assert list(again.states(DAY)) == list(population.states(DAY))
    other = Population(PopulationSpec(seed=6, size=1234))
    assert set(b for b, _, _ in other.states(DAY)) != set(members)


def test_streaming_agrees_with_the_o1_lookup():
    population = Population(PopulationSpec(seed=1, size=3000))
    active = {bsn for bsn, _, _ in population.active_on(DAY)}
    assert 0 < len(active) < 3000
    for bsn, start, end in population.states(DAY):
        assert population.is_active(bsn, DAY) == (bsn in active) == (end == NO_END)
        assert population.state(bsn, DAY) == (start, end)
        assert start <= DAY.toordinal()


@pytest.mark.parametrize("day", [date(2026, 1, 1), DAY, date(2030, 7, 1)])
def test_every_day_has_changes_and_they_are_the_difference(day):
    population = Population(PopulationSpec(seed=1, size=2000))
    before = {b for b, _, _ in population.active_on(day)}
    after = {b for b, _, _ in population.active_on(day + timedelta(days=1))}
    changed = {b: end for b, _, end in population.changes(day, day + timedelta(days=1))}
    assert changed and set(changed) == before ^ after
    assert all((end == NO_END) == (b in after) for b, end in changed.items())


def test_changes_over_a_range_cover_every_daily_change():
    population = Population(PopulationSpec(seed=2, size=1000))
    start = date(2026, 3, 1)
    daily = set()
    for offset in range(10):
        day = start + timedelta(days=offset)
        daily |= {b for b, _, _ in population.changes(day, day + timedelta(days=1))}
    assert daily == {b for b, _, _ in population.changes(start, start + timedelta(days=10))}


def test_next_change_and_history():
    population = Population(PopulationSpec(seed=1, size=500, stable_share=0.0))
    bsn = population.sample(DAY, "inactive", 1)[0]
    start, end = population.state(bsn, DAY)
    assert end != NO_END and end <= DAY.toordinal()  # the last period, ended
    signup = population.next_change(bsn, DAY)
    assert population.is_active(bsn, signup) and not population.is_active(bsn, signup - 1)
    assert population.state(bsn, signup) == (signup, NO_END)


def test_explicit_subscriptions_override_and_extend():
    population = Population(PopulationSpec(seed=1, size=100))
    outsider = "249566758"
    assert not population.is_member(outsider) and population.state(outsider, DAY) is None
    population.subscribe([outsider], date(2026, 1, 1), date(2026, 6, 1))
    assert population.is_active(outsider, date(2026, 5, 31))
    assert not population.is_active(outsider, date(2026, 6, 1))
    assert (outsider, date(2026, 1, 1).toordinal(), date(2026, 6, 1).toordinal()) in list(
        population.states(DAY)
    )
    changed = {b for b, _, _ in population.changes(date(2026, 5, 31), date(2026, 6, 1))}
    assert outsider in changed


def test_samples():
    population = Population(PopulationSpec(seed=1, size=500))
    assert all(population.is_active(b, DAY) for b in population.sample(DAY, "active", 20))
    inactive = population.sample(DAY, "inactive", 20)
    assert inactive and not any(population.is_active(b, DAY) for b in inactive)
    never = population.sample(DAY, "never", 20)
    assert len(never) == 20 and all(
        passes_eleven_test(b) and not population.is_member(b) for b in never
    )


def test_large_population_needs_no_memory():
    import tracemalloc

    tracemalloc.start()
    population = Population(PopulationSpec(seed=9, size=30_000))
    count = sum(1 for _ in population.active_on(DAY))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count > 20_000
    assert peak < 500_000  # bytes: far less than one small object per BSN


def test_bad_specs_are_refused():
    with pytest.raises(ConfigError):
        PopulationSpec(size=-1)
    with pytest.raises(ConfigError):
        PopulationSpec(min_cycle_days=50, max_cycle_days=10)
    with pytest.raises(ConfigError):
        PopulationSpec.from_dict({"sise": 5}, default_seed=1)


def test_explicit_subscriptions_must_be_bsns():
    population = Population(PopulationSpec(seed=1, size=10))
    with pytest.raises(ValueError, match="not valid BSNs"):
        population.subscribe(["123456789", "249566758"], date(2026, 1, 1))
    assert population.state("249566758", DAY) is None  # all or nothing
