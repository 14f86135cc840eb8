"""Lookups and reports against hand-computed expectations; the merge rules on small,
readable answers (re-subscription, reconciliation, duplicates, contradictions)."""

from __future__ import annotations

from datetime import date

import pytest
from register_helpers import Driver, answer_gzip, moment, population

from bbx.domain import bsn as bsn_rules
from bbx.domain import register as rules
from bbx.domain.subscription import SubscriptionAnswerError
from bbx.store import register as store
from bbx.store import register_refresh as refresh_store

A, B, C, D, E = bsn_rules.generate(5, seed=11)
D1, D2, D5 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 5)


def d(text: str) -> date:
    return date.fromisoformat("2026-" + text) if len(text) == 5 else date.fromisoformat(text)


def apply(driver: Driver, day: date, entries, *, force_full: bool = False, hour: int = 6) -> refresh_store.ApplyResult:
    refresh = driver.ask(day, force_full=force_full)
    driver.answer(refresh, day, answer_gzip(str(refresh["request_id"]), moment(day, hour), entries))
    return driver.apply(refresh)


@pytest.fixture
def history(driver: Driver) -> dict[str, int]:
    """Three refreshes, dates chosen by hand:

    build 03-01 (full):  A since 2020-05-01, B since 02-10, C since 02-28
    03-02 (changes):     B signs off (end 03-02); D signs up 03-02
    03-05 (changes):     C ended 03-04; E signed up 03-03 and off 03-05; B back from 03-05
    """
    r1 = apply(driver, D1, [(A, d("2020-05-01"), None), (B, d("02-10"), None), (C, d("02-28"), None)])
    r2 = apply(driver, D2, [(B, d("02-10"), d("03-02")), (D, d("03-02"), None)])
    r3 = apply(driver, D5, [(C, d("02-28"), d("03-04")), (E, d("03-03"), d("03-05")), (B, d("03-05"), None)])
    assert (r1.opened, r1.closed) == (3, 0)
    assert (r2.opened, r2.closed) == (1, 1)
    assert (r3.opened, r3.closed) == (2, 2)  # opened E and B again; closed C and E
    return {"r1": r1.refresh_id, "r2": r2.refresh_id, "r3": r3.refresh_id}


def test_periods_of_a_bsn_oldest_first_with_the_refresh_that_made_them(db, connection, history):
    assert store.periods(db, connection["id"], B) == [
        {"begin_date": d("02-10"), "end_date": d("03-02"), "opened_by_refresh": history["r1"],
         "closed_by_refresh": history["r2"]},
        {"begin_date": d("03-05"), "end_date": None, "opened_by_refresh": history["r3"],
         "closed_by_refresh": None},
    ]
    assert store.periods(db, connection["id"], E) == [
        {"begin_date": d("03-03"), "end_date": d("03-05"), "opened_by_refresh": history["r3"],
         "closed_by_refresh": history["r3"]},
    ]
    never = next(b for b in bsn_rules.generate(10, seed=99) if b not in (A, B, C, D, E))
    assert store.periods(db, connection["id"], never) == []


def test_is_subscribed_uses_an_exclusive_end_date(db, connection, history):
    cid = connection["id"]
    expected = {  # (bsn, day): subscribed?
        (B, d("02-09")): False, (B, d("02-10")): True, (B, d("03-01")): True,
        (B, d("03-02")): False,  # the end date is the first day without
        (B, d("03-04")): False, (B, d("03-05")): True, (B, d("2027-01-01")): True,
        (E, d("03-02")): False, (E, d("03-03")): True, (E, d("03-04")): True, (E, d("03-05")): False,
        (A, d("2020-04-30")): False, (A, d("2020-05-01")): True,
    }
    assert {key: store.is_subscribed(db, cid, *key) for key in expected} == expected


def test_subscribed_on_a_date(db, connection, history):
    cid = connection["id"]
    expected = {
        d("03-01"): {A, B, C},
        d("03-02"): {A, C, D},
        d("03-03"): {A, C, D, E},
        d("03-04"): {A, D, E},
        d("03-05"): {A, B, D},
    }
    for day, bsns in expected.items():
        assert store.subscribed_on(db, cid, day) == {"count": len(bsns)}
        assert store.subscribed_on(db, cid, day, with_bsns=True) == {"count": len(bsns), "bsns": sorted(bsns)}
    # the SQL function delivery uses says the same
    rows = db.execute("SELECT bsn FROM register_active_on(%s, %s)", (cid, d("03-03"))).fetchall()
    assert {r["bsn"] for r in rows} == expected[d("03-03")]


def test_signups_and_signoffs_in_a_period(db, connection, history):
    cid = connection["id"]
    assert store.changes(db, cid, d("03-01"), d("03-05")) == {"signups": 3, "signoffs": 3}
    assert store.changes(db, cid, d("03-01"), d("03-05"), with_bsns=True) == {
        "signups": 3, "signoffs": 3,
        "signup_bsns": sorted([D, E, B]), "signoff_bsns": sorted([B, C, E]),
    }
    # both ends inclusive
    assert store.changes(db, cid, d("03-02"), d("03-02"), with_bsns=True) == {
        "signups": 1, "signoffs": 1, "signup_bsns": [D], "signoff_bsns": [B]}
    assert store.changes(db, cid, d("02-01"), d("02-28")) == {"signups": 2, "signoffs": 0}
    assert store.changes(db, cid, d("2021-01-01"), d("2021-12-31")) == {"signups": 0, "signoffs": 0}
    with pytest.raises(ValueError, match="ends"):
        store.changes(db, cid, d("03-05"), d("03-01"))


def test_a_later_subscription_closes_the_open_one_when_it_began(db, connection, history, driver):
    # A is reported with a subscription that began 03-06 (signed off and on again between
    # refreshes): the old one is closed on 03-06, never rewritten
    result = apply(driver, d("03-07"), [(A, d("03-06"), None)])
    assert (result.opened, result.closed, result.conflicts) == (1, 1, 0)
    assert [(p["begin_date"], p["end_date"]) for p in store.periods(db, connection["id"], A)] == [
        (d("2020-05-01"), d("03-06")), (d("03-06"), None)]


def test_a_full_list_closes_who_is_missing_on_its_peildatum(db, connection, history, driver):
    result = apply(driver, d("03-08"), [(A, d("2020-05-01"), None), (B, d("03-05"), None)], force_full=True)
    assert (result.opened, result.closed, result.conflicts) == (0, 1, 0)  # D is not on it
    assert store.periods(db, connection["id"], D)[-1]["end_date"] == d("03-08")
    assert store.subscribed_on(db, connection["id"], d("03-08"), with_bsns=True)["bsns"] == sorted([A, B])


def test_entries_that_contradict_history_are_counted_not_applied(db, connection, history, driver):
    before = driver.periods()
    # B's first subscription with another end date; E overlapping its known period
    result = apply(driver, d("03-09"), [(B, d("02-10"), d("03-03")), (E, d("03-04"), None)])
    assert (result.opened, result.closed, result.conflicts) == (0, 0, 2)
    assert driver.periods() == before
    row = db.execute("SELECT conflicts FROM register_refreshes WHERE id = %s", (result.refresh_id,)).fetchone()
    assert row["conflicts"] == 2


def test_an_entry_listed_twice_counts_once(db, connection, driver):
    result = apply(driver, D1, [(A, d("01-01"), None), (A, d("01-01"), None), (B, d("01-02"), None)])
    assert (result.entries, result.opened) == (3, 2)
    assert store.subscribed_on(db, connection["id"], D1)["count"] == 2


def test_two_open_subscriptions_of_one_bsn_keep_the_latest(db, connection, driver):
    result = apply(driver, D1, [(A, d("01-01"), None), (A, d("02-01"), None)])
    assert (result.opened, result.conflicts) == (1, 1)
    assert [p["begin_date"] for p in store.periods(db, connection["id"], A)] == [d("02-01")]


@pytest.mark.parametrize("entries, message", [
    ([(A, d("03-01"), d("02-01"))], "before DatumIngang"),
    ([(A, d("01-01"), d("02-01")), (A, d("01-01"), d("02-02"))], "two different end dates"),
])
def test_an_impossible_answer_is_refused_whole(db, connection, driver, entries, message):
    apply(driver, D1, [(B, d("01-01"), None)])
    before = driver.periods()
    refresh = driver.ask(D2)
    driver.answer(refresh, D2, answer_gzip(str(refresh["request_id"]), moment(D2), [(C, d("03-01"), None), *entries]))
    with pytest.raises(rules.RegisterError, match=message):
        driver.apply(refresh)
    assert driver.periods() == before
    failed = refresh_store.refresh_for(db, connection["id"], D2)
    assert failed["status"] == "failed" and message in failed["error"]


def test_ended_without_an_end_date_is_refused(db, connection, driver):
    refresh = driver.ask(D1)
    xml = (f'<ns0:AbonnementAntwoord xmlns:ns0="http://schemas.overheid.nl/GEB/AbonnementServiceProcessor/2014/02">'
           f"<VerzoekId>{refresh['request_id']}</VerzoekId><PeilDatum>2026-03-01T06:00:00+01:00</PeilDatum>"
           f"<Abonnementen><Abonnement><BSN>{A}</BSN><Status>Beeindigd</Status>"
           f"<DatumIngang>2026-01-01</DatumIngang></Abonnement></Abonnementen></ns0:AbonnementAntwoord>").encode()
    driver.answer(refresh, D1, xml)
    with pytest.raises(rules.RegisterError, match="Beeindigd without DatumEinde"):
        driver.apply(refresh)
    assert driver.periods() == set()


def test_an_answer_to_another_request_or_without_peildatum_is_refused(db, connection, driver):
    refresh = driver.ask(D1)
    driver.answer(refresh, D1, answer_gzip("not-this-request", moment(D1), [(A, D1, None)]))
    with pytest.raises(rules.RegisterError, match="VerzoekId not-this-request"):
        refresh_store.apply_answer(db, refresh["id"])
    refresh = driver.ask(D1)  # attempt 2
    assert refresh["attempt"] == 2
    xml = (f'<ns0:AbonnementAntwoord xmlns:ns0="http://schemas.overheid.nl/GEB/AbonnementServiceProcessor/2014/02">'
           f"<VerzoekId>{refresh['request_id']}</VerzoekId><PeilDatum>gisteren</PeilDatum>"
           f"<Abonnementen/></ns0:AbonnementAntwoord>").encode()
    driver.answer(refresh, D1, xml)
    with pytest.raises(rules.RegisterError, match="PeilDatum"):
        refresh_store.apply_answer(db, refresh["id"])


def test_a_truncated_answer_is_refused_and_the_day_can_be_asked_again(db, connection):
    driver = Driver(db, connection, population())
    driver.refresh(D1)
    before = driver.periods()
    refresh = driver.ask(D5)
    content = driver.answer_content(refresh, D5)
    driver.answer(refresh, D5, content[: len(content) // 2])
    with pytest.raises(SubscriptionAnswerError):
        driver.apply(refresh)
    assert driver.periods() == before
    assert refresh_store.refresh_for(db, connection["id"], D5)["status"] == "failed"
    # the rerun asks again (attempt 2, a new VerzoekId) and applies
    again = driver.ask(D5)
    assert again["attempt"] == 2 and again["request_id"] != refresh["request_id"]
    driver.answer(again, D5)
    assert driver.apply(again).outcome == "applied"
    assert driver.active(D5) == driver.truth(D5)
    # no answer content (BSNs) is kept once the day is applied, not even the broken one
    kept = db.execute("SELECT count(*) AS n, count(content) AS c FROM register_answers").fetchone()
    assert (kept["n"], kept["c"]) == (3, 0)


def test_answers_are_matched_to_their_request(db, connection, driver):
    refresh = driver.ask(D1)
    content = driver.answer_content(refresh, D1)
    cid = connection["id"]
    with db.transaction():
        assert refresh_store.store_answer(db, connection_id=cid, ebms_message_id="m1", content=content,
                                          request_id="5a0b5a0b-0000-5000-8000-000000000000") == "unknown"
        assert refresh_store.store_answer(db, connection_id=cid, ebms_message_id="m2", content=content,
                                          request_id=str(refresh["request_id"])) == "stored"
        assert refresh_store.store_answer(db, connection_id=cid, ebms_message_id="m3", content=content,
                                          request_id=str(refresh["request_id"])) == "duplicate"
    # an unreadable answer is placed by the request it refers to (refToMessageId)
    refresh2 = driver.ask(D2)
    with db.transaction():
        assert refresh_store.store_answer(db, connection_id=cid, ebms_message_id="m4", content=b"\x1f\x8bbroken",
                                          request_id=None, ref_to_message_id=f"req-{refresh2['request_id']}@bbx") == "stored"
    with pytest.raises(SubscriptionAnswerError):
        refresh_store.apply_answer(db, refresh2["id"])
    actions = [r["action"] for r in db.execute("SELECT action FROM audit_log WHERE action LIKE 'register.answer%%' ORDER BY id")]
    assert actions == ["register.answer_ignored", "register.answered", "register.answer_ignored", "register.answered"]
