"""The first build of a register: an answer in ascending BSN order is copied straight into
``register_periods``; any other goes through staging. Both must write the same history."""

from __future__ import annotations

import io
from datetime import date

import psycopg
import pytest
from register_helpers import OIN_B, Driver, answer_gzip, make_connection, moment

from bbx.domain import bsn as bsn_rules
from bbx.domain import register as rules
from bbx.domain.subscription import iter_subscription_answer
from bbx.store import register as store
from bbx.store import register_refresh as refresh_store

D1 = date(2026, 3, 1)
BSNS = sorted(bsn_rules.generate(40, seed=29))


def _entries() -> list[tuple[str, date, date | None]]:
    """Open and closed subscriptions, and one that began and ended on one day."""
    out = []
    for i, bsn in enumerate(BSNS):
        begin = date(2025, 1 + i % 12, 1 + i % 28)
        end = None if i % 3 else (begin if i % 9 == 0 else date(2026, 2, 1 + i % 28))
        out.append((bsn, begin, end))
    return out


def _history(db, connection_id: int, refresh_id: int) -> set[tuple]:
    """The periods of a connection, with whether the refresh opened/closed them."""
    return {
        (r["bsn"], r["begin_date"], r["end_date"], r["opened_by_refresh"] == refresh_id,
         None if r["closed_by_refresh"] is None else r["closed_by_refresh"] == refresh_id)
        for r in db.execute("SELECT * FROM register_periods WHERE connection_id = %s", (connection_id,))
    }


def _build(driver: Driver, entries, *, once: bool) -> tuple[refresh_store.ApplyResult, dict]:
    """Ask, answer and apply a first build; ``once``: hand the entries over as a one-shot
    iterator (the staging path), else as the stored answer (the direct path when sorted)."""
    refresh = driver.ask(D1)
    driver.answer(refresh, D1, answer_gzip(str(refresh["request_id"]), moment(D1), entries))
    if not once:
        return driver.apply(refresh), refresh
    content = bytes(driver.db.execute("SELECT content FROM register_answers WHERE refresh_id = %s",
                                      (refresh["id"],)).fetchone()["content"])
    header, stream = iter_subscription_answer(io.BytesIO(content))
    return refresh_store.apply_entries(driver.db, refresh["id"], header, stream), refresh


@pytest.fixture
def other(db) -> Driver:
    return Driver(db, make_connection(db, "gemeente_u", OIN_B), None)


def test_a_sorted_first_build_copied_directly_equals_the_staged_one(db, connection, driver, other):
    direct, r1 = _build(driver, _entries(), once=False)
    staged, r2 = _build(other, _entries(), once=True)
    closed = sum(1 for _, _, end in _entries() if end is not None)
    assert (direct.entries, direct.opened, direct.closed, direct.conflicts) == (40, 40, closed, 0)
    assert (staged.entries, staged.opened, staged.closed, staged.conflicts) == (40, 40, closed, 0)
    assert _history(db, connection["id"], r1["id"]) == _history(db, other.connection["id"], r2["id"])
    assert len(_history(db, connection["id"], r1["id"])) == 40
    assert store.subscribed_on(db, connection["id"], D1)["count"] == \
        store.subscribed_on(db, other.connection["id"], D1)["count"] == 40 - closed
    applied = refresh_store.refresh_for(db, connection["id"], D1)
    assert (applied["status"], applied["entries"], applied["opened"], applied["closed"]) == ("applied", 40, 40, closed)


def test_an_unsorted_first_build_is_read_again_through_staging(db, connection, driver, other):
    entries = _entries()
    shuffled = entries[25:] + entries[:25]  # ascending for 15 entries, then not
    result, refresh = _build(driver, shuffled, once=False)
    reference, r2 = _build(other, entries, once=False)
    assert (result.entries, result.opened, result.closed) == (reference.entries, reference.opened, reference.closed)
    assert _history(db, connection["id"], refresh["id"]) == _history(db, other.connection["id"], r2["id"])


def test_a_sorted_first_build_with_a_bad_last_entry_writes_nothing(db, connection, driver):
    entries = _entries()
    bad = entries[:-1] + [(entries[-1][0], date(2026, 3, 1), date(2026, 2, 1))]  # ends before it begins
    with pytest.raises(rules.RegisterError, match="before DatumIngang"):
        _build(driver, bad, once=False)
    assert driver.periods() == set()
    assert refresh_store.refresh_for(db, connection["id"], D1)["status"] == "failed"


def test_a_copy_into_the_register_is_checked_as_an_insert(db, connection, driver, other):
    """The direct path writes with COPY: the per-statement check of migration 210 holds."""
    _, refresh = _build(other, _entries()[:1], once=False)
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="not a refresh of that connection"), \
            db.transaction(), db.cursor().copy(
                "COPY register_periods (bsn, begin_date, end_date, connection_id, opened_by_refresh) FROM STDIN"
            ) as copy:
        copy.write_row((BSNS[1], D1, None, connection["id"], refresh["id"]))
    assert driver.periods() == set()
