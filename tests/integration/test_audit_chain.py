"""The audit log's hash chain in the real database: sealed at commit in commit order,
and `verify` names the first entry a tamperer (a superuser with the triggers off) edited,
deleted or moved."""

from __future__ import annotations

import threading

import psycopg
import pytest

from bbx.cli import main as bbx_main
from bbx.domain import audit_chain
from bbx.domain import bsn as bsn_rules
from bbx.store import audit
from bbx.store import db as store_db


def _write(db, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record(db, actor=f"user:tester{i % 3}", action="test.step",
                     details={"i": i, "note": "Zoë's ünïcode \"quote\"\n", "nested": {"b": [1, 2.5, None]}})
        db.commit()


def _ids(db) -> list[dict]:
    return db.execute("SELECT id, seq, hash FROM audit_log ORDER BY seq").fetchall()


def _tamper(url: str, sql: str, params=()) -> None:
    """What someone with superuser rights does: triggers off, then change the table."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path TO bbx, public")
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql, params)


def test_entries_are_chained_and_verify_recomputes_the_chain(db, database_url):
    _write(db, 12)
    rows = _ids(db)
    assert [r["seq"] for r in rows] == list(range(1, 13))
    assert all(r["hash"] is not None and len(r["hash"]) == 32 for r in rows)
    result = audit.verify(database_url)
    assert result.ok and result.checked == 12
    assert result.head_seq == 12 and result.head_hash == rows[-1]["hash"]
    # Python's canonical form and the database's agree on every entry
    entries = list(audit.chain_entries(database_url))
    assert [audit_chain.digest(e) for e in entries] == [r["hash"] for r in rows]


def test_no_writer_sets_or_changes_the_chain(db):
    db.execute("INSERT INTO audit_log (actor, action, seq, hash) VALUES ('x', 'y.z', 99, '\\x00')")
    db.commit()
    row = db.execute("SELECT seq, hash, prev_hash FROM audit_log").fetchone()
    assert row["seq"] == 1 and row["hash"] != b"\x00" and row["prev_hash"] is None
    for sql in ("UPDATE audit_log SET hash = '\\x00'", "UPDATE audit_log SET seq = NULL",
                "UPDATE audit_log SET details = '{}'", "DELETE FROM audit_log"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            with db.transaction():
                db.execute(sql)


def test_refused_needs_a_reason_and_bsns_are_masked(db):
    bsn = next(bsn_rules.generate(1, seed=3))
    audit.refused(db, actor="api-key:abcd1234", action="bsn.lookup", reason=f"no connection sees {bsn}",
                  details={"asked": [f"BSN {bsn}"]})
    db.commit()
    row = db.execute("SELECT outcome, reason, details::text AS d FROM audit_log").fetchone()
    assert row["outcome"] == "refused" and bsn not in row["reason"] and bsn not in row["d"]
    assert bsn[-3:] in row["d"]
    with pytest.raises(ValueError):
        audit.record(db, actor="x", action="y", outcome="refused")
    with pytest.raises(psycopg.errors.CheckViolation):
        with db.transaction():
            db.execute("INSERT INTO audit_log (actor, action, outcome) VALUES ('x', 'y', 'refused')")


def test_verify_names_an_edited_entry(db, database_url, capsys):
    _write(db, 8)
    victim = _ids(db)[4]
    _tamper(database_url, "UPDATE audit_log SET actor = 'user:someone-else' WHERE id = %s", (victim["id"],))
    result = audit.verify(database_url)
    assert not result.ok and result.checked == 4
    assert result.broken.kind == "changed" and result.broken.id == victim["id"]
    assert f"entry id {victim['id']} " in result.broken.message
    # the CLI says the same and exits 1
    assert bbx_main(["audit", "verify"]) == 1
    out = capsys.readouterr()
    assert f"entry id {victim['id']} " in out.out + out.err and "BROKEN" in out.out + out.err


def test_verify_sees_a_rehashed_entry_through_the_next_link(db, database_url):
    _write(db, 6)
    victim = _ids(db)[2]
    # a careful tamperer also recomputes the edited entry's own hash
    _tamper(database_url, "UPDATE audit_log SET details = '{\"i\": 99}' WHERE id = %s", (victim["id"],))
    _tamper(database_url, "UPDATE audit_log SET hash = audit_log_digest(audit_log) WHERE id = %s", (victim["id"],))
    result = audit.verify(database_url)
    assert result.broken.kind == "relinked" and result.broken.seq == victim["seq"] + 1


def test_verify_names_a_deleted_entry(db, database_url):
    _write(db, 6)
    rows = _ids(db)
    _tamper(database_url, "DELETE FROM audit_log WHERE id = %s", (rows[3]["id"],))
    result = audit.verify(database_url)
    assert result.broken.kind == "missing" and result.broken.id == rows[4]["id"]
    assert "seq 4..4 are missing" in result.broken.message
    # the first entry deleted: the chain does not start at 1
    _tamper(database_url, "DELETE FROM audit_log WHERE id = %s", (rows[0]["id"],))
    assert audit.verify(database_url).broken.id == rows[1]["id"]


def test_verify_names_a_reordered_pair(db, database_url):
    _write(db, 6)
    rows = _ids(db)
    a, b = rows[2], rows[3]
    _tamper(database_url, "UPDATE audit_log SET seq = -1 WHERE id = %s", (a["id"],))
    _tamper(database_url, "UPDATE audit_log SET seq = %s WHERE id = %s", (a["seq"], b["id"]))
    _tamper(database_url, "UPDATE audit_log SET seq = %s WHERE id = %s", (b["seq"], a["id"]))
    result = audit.verify(database_url)
    assert not result.ok and result.broken.id == b["id"] and result.broken.seq == a["seq"]


def test_verify_names_an_entry_written_with_the_triggers_off(db, database_url):
    _write(db, 3)
    _tamper(database_url, "INSERT INTO audit_log (actor, action) VALUES ('intruder', 'x.y')")
    result = audit.verify(database_url)
    assert result.broken.kind == "unsealed" and result.checked == 3


def test_concurrent_writers_make_one_chain_in_commit_order(db, database_url):
    """Two transactions writing at once: the one that commits first is sealed first, and a
    long transaction does not hold up the other (the lock is taken only at commit)."""
    slow = store_db.connect(database_url)
    audit.record(slow, actor="user:slow", action="test.slow")  # written first, committed last
    done = threading.Event()

    def fast():
        with store_db.connect(database_url) as conn:
            audit.record(conn, actor="user:fast", action="test.fast")
            conn.commit()
        done.set()

    worker = threading.Thread(target=fast)
    worker.start()
    assert done.wait(20), "a writer waited for another transaction's work"
    slow.commit()
    slow.close()
    worker.join()
    rows = db.execute("SELECT actor, seq FROM audit_log ORDER BY seq").fetchall()
    assert [r["actor"] for r in rows] == ["user:fast", "user:slow"]
    assert audit.verify(database_url).ok


def test_migration_chains_existing_entries(database_url):
    """Entries written before migration 140 get a chain in id order."""
    from bbx import settings
    from bbx.store import migrations

    url = store_db.sibling_url(database_url, database_url.rsplit("/", 1)[-1] + "_mig")
    store_db.drop_database(url)
    store_db.ensure_database(url)
    try:
        folder_all = migrations.discover()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {settings.BBX_SCHEMA}")
            for m in folder_all:
                if m.version >= 140:
                    break
                with conn.transaction():
                    conn.execute(f"SET LOCAL search_path TO {settings.BBX_SCHEMA}, public")
                    conn.execute(m.sql)
            conn.execute("SET search_path TO bbx, public")
            for i in range(5):
                conn.execute("INSERT INTO audit_log (actor, action, details) VALUES (%s, 'old.entry', %s)",
                             (f"bbx{i}", f'{{"i": {i}}}'))
            with conn.transaction():
                conn.execute("SET LOCAL search_path TO bbx, public")
                conn.execute(next(m for m in folder_all if m.version == 140).sql)
        result = audit.verify(url)
        assert result.ok and result.checked == 5 and result.head_seq == 5
    finally:
        store_db.drop_database(url)



def test_verify_against_a_kept_head_sees_entries_cut_off_the_end(db, database_url, capsys):
    _write(db, 5)
    rows = _ids(db)
    head = f"{rows[-1]['seq']}:{rows[-1]['hash'].hex()}"
    assert bbx_main(["audit", "verify", "--expect", head]) == 0
    assert f"head {head}" in capsys.readouterr().out
    _tamper(database_url, "DELETE FROM audit_log WHERE id = ANY(%s)", ([r["id"] for r in rows[3:]],))
    assert audit.verify(database_url).ok  # the chain alone cannot tell its end was cut off
    assert bbx_main(["audit", "verify", "--expect", head]) == 1
    assert "cut off the end" in capsys.readouterr().err
