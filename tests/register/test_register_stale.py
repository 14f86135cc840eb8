"""The stale-register flag, its acknowledgement, and doubts raised by delivery."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from register_helpers import OIN_B, Driver, answer_gzip, make_connection, moment

from bbx.domain import bsn as bsn_rules
from bbx.store import register as store
from bbx.store import register_refresh as refresh_store

DAY = date(2026, 3, 2)
A, B = bsn_rules.generate(2, seed=5)


def _audit(db, action: str) -> int:
    return db.execute("SELECT count(*) AS n FROM audit_log WHERE action = %s", (action,)).fetchone()["n"]


def test_a_register_never_built_blocks_bulk_sends_until_acknowledged(db, connection):
    cid = connection["id"]
    reason = store.bulk_send_blocked(db, cid)
    assert "never been built" in reason and "bbx register acknowledge gemeente_t" in reason
    with db.transaction():
        flag = store.flag_stale(db, cid)
        again = store.flag_stale(db, cid)
    assert flag["id"] == again["id"] and flag["acknowledged_at"] is None
    assert _audit(db, "register.stale") == 1  # flagged once per episode

    with pytest.raises(ValueError, match="say why"):
        store.acknowledge_stale(db, cid, by="operator:jan", reason="  ")
    with db.transaction():
        store.acknowledge_stale(db, cid, by="operator:jan", reason="first send before the first refresh")
    assert store.bulk_send_blocked(db, cid) is None
    assert _audit(db, "register.stale_acknowledged") == 1


def test_a_stale_register_blocks_bulk_sends_and_a_refresh_ends_the_episode(db, connection):
    cid = connection["id"]
    driver = Driver(db, connection, None)
    refresh = driver.ask(DAY)
    driver.answer(refresh, DAY, answer_gzip(str(refresh["request_id"]), moment(DAY), [(A, DAY, None)]))
    driver.apply(refresh)
    applied_at = refresh_store.last_applied(db, cid)["applied_at"]

    assert store.bulk_send_blocked(db, cid, applied_at + timedelta(hours=35)) is None
    with pytest.raises(ValueError, match="fresh"):
        store.acknowledge_stale(db, cid, by="operator:jan", reason="no need", now=applied_at + timedelta(hours=1))
    later = applied_at + timedelta(hours=37)
    reason = store.bulk_send_blocked(db, cid, later)
    assert "is stale" in reason and "37 h ago, allowed 36 h" in reason
    with db.transaction():
        store.acknowledge_stale(db, cid, by="operator:jan", reason="Logius outage, register checked", now=later)
    assert store.bulk_send_blocked(db, cid, later) is None
    status = store.status(db, cid, later)
    assert status["stale"] == reason and status["acknowledged_by"] == "operator:jan"
    assert status["bulk_send_blocked"] is None and status["subscribed_today"] in (0, 1)

    # a new successful refresh ends the episode; staleness after it needs a new acknowledgement
    day2 = DAY + timedelta(days=1)
    refresh = driver.ask(day2)
    driver.answer(refresh, day2, answer_gzip(str(refresh["request_id"]), moment(day2), []))
    driver.apply(refresh)
    new_applied = refresh_store.last_applied(db, cid)["applied_at"]
    assert store.bulk_send_blocked(db, cid, new_applied + timedelta(hours=1)) is None
    assert "is stale" in store.bulk_send_blocked(db, cid, new_applied + timedelta(hours=40))


def test_staleness_follows_each_connections_own_setting(db, connection):
    other = make_connection(db, "gemeente_strict", OIN_B, stale_hours=2)
    for conn_row in (connection, other):
        driver = Driver(db, conn_row, None)
        refresh = driver.ask(DAY)
        driver.answer(refresh, DAY, answer_gzip(str(refresh["request_id"]), moment(DAY), [(A, DAY, None)]))
        driver.apply(refresh)
    now = datetime.now(UTC) + timedelta(hours=3)
    assert store.bulk_send_blocked(db, connection["id"], now) is None
    assert "allowed 2 h" in store.bulk_send_blocked(db, other["id"], now)


def test_doubts_are_recorded_once_and_resolved_by_a_refresh(db, connection):
    cid = connection["id"]
    driver = Driver(db, connection, None)
    refresh = driver.ask(DAY)
    driver.answer(refresh, DAY, answer_gzip(str(refresh["request_id"]), moment(DAY), [(A, DAY, None), (B, DAY, None)]))
    driver.apply(refresh)
    message_a, message_b = "1b4e28ba-2fa1-51d2-883f-0016d3cca427", "2b4e28ba-2fa1-51d2-883f-0016d3cca427"
    with db.transaction():
        store.record_doubt(db, cid, A, message_id=message_a, source="bbx_deliver")
        store.record_doubt(db, cid, A, message_id=message_a, source="bbx_deliver")  # same result again
        store.record_doubt(db, cid, B, message_id=message_b, source="bbx_deliver")
    assert [d["bsn"] for d in store.open_doubts(db, cid)] == [A, B]
    logged = db.execute("SELECT details FROM audit_log WHERE action = 'register.doubt' ORDER BY id").fetchall()
    assert [r["details"]["bsn"] for r in logged] == [bsn_rules.mask(A), bsn_rules.mask(B)]  # never in full

    # the next refresh shows A signed off: its doubt is resolved; B's stays for an operator
    day2 = DAY + timedelta(days=1)
    refresh = driver.ask(day2)
    driver.answer(refresh, day2, answer_gzip(str(refresh["request_id"]), moment(day2), [(A, DAY, day2)]))
    driver.apply(refresh)
    assert [d["bsn"] for d in store.open_doubts(db, cid)] == [B]
    resolved = db.execute("SELECT resolution FROM register_doubts WHERE bsn = %s", (A,)).fetchone()
    assert resolved["resolution"].startswith(f"refresh {refresh['id']}")
    with db.transaction():
        store.resolve_doubt(db, store.open_doubts(db, cid)[0]["id"], by="operator:jan", resolution="checked live: subscribed")
    assert store.open_doubts(db, cid) == []
    with pytest.raises(ValueError, match="already resolved"):
        store.resolve_doubt(db, 1, by="operator:jan", resolution="again")
