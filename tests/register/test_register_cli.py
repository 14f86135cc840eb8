"""``bbx register ...`` for operators, against a real database."""

from __future__ import annotations

import re
from datetime import date

import pytest
from register_helpers import Driver, answer_gzip, moment
from terminal import run_on_terminal

from bbx.cli import main
from bbx.domain import bsn as bsn_rules
from bbx.store import register as store

pytestmark = pytest.mark.usefixtures("english")  # these tests pin the English wording

DAY = date(2026, 3, 2)
A, B = sorted(bsn_rules.generate(2, seed=31))


def _build(db, connection):
    driver = Driver(db, connection, None)
    refresh = driver.ask(DAY)
    driver.answer(refresh, DAY, answer_gzip(str(refresh["request_id"]), moment(DAY),
                                            [(A, date(2026, 1, 1), None), (B, date(2026, 1, 5), date(2026, 3, 1))]))
    driver.apply(refresh)


def test_status_shows_a_never_built_register_and_acknowledge_unblocks(db, connection, capsys):
    assert main(["register", "status"]) == 1
    out = capsys.readouterr().out
    assert "gemeente_t: 0 subscribed today; last refresh never refreshed" in out
    assert "STALE (BULK SENDS STOPPED)" in out
    assert main(["register", "acknowledge", "gemeente_t", "--reason", "eerste verzending"]) == 0
    assert "acknowledged by cli:" in capsys.readouterr().out
    assert main(["register", "status", "gemeente_t"]) == 0
    assert "STALE (acknowledged by cli:" in capsys.readouterr().out


def test_lookup_and_reports(db, connection, capsys):
    _build(db, connection)
    assert main(["register", "lookup", "gemeente_t", B]) == 0
    out = capsys.readouterr().out
    assert f"{bsn_rules.mask(B)} at gemeente_t: not subscribed today" in out
    assert "from 2026-01-05 until 2026-03-01 (first day without)" in out
    assert main(["register", "lookup", "gemeente_t", "12345"]) == 2
    assert "BSN must have 9 digits" in capsys.readouterr().err

    assert main(["register", "report", "gemeente_t", "--on", "2026-02-01", "--bsns"]) == 0
    assert capsys.readouterr().out.splitlines() == ["gemeente_t: 2 subscribed on 2026-02-01", A, B]
    assert main(["register", "report", "gemeente_t", "--from", "2026-01-01", "--to", "2026-03-01", "--bsns"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "gemeente_t: 2 sign-ups and 1 sign-offs from 2026-01-01 to 2026-03-01 (inclusive)",
        f"sign-up,{A}", f"sign-up,{B}", f"sign-off,{B}"]


def test_doubts_listed_and_resolved(db, connection, capsys):
    _build(db, connection)
    with db.transaction():
        store.record_doubt(db, connection["id"], A, message_id="3b4e28ba-2fa1-51d2-883f-0016d3cca427",
                           source="GLOBE-R-BV-Result NietActiefOfGeabonneerd")
    assert main(["register", "doubts", "gemeente_t"]) == 0
    out = capsys.readouterr().out
    assert bsn_rules.mask(A) in out and A not in out
    doubt_id = out.split(":")[0]
    assert main(["register", "doubts", "gemeente_t", "--resolve", doubt_id, "--note", "live check: subscribed"]) == 0
    assert main(["register", "doubts", "gemeente_t"]) == 0
    assert "no open doubts" in capsys.readouterr().out


def test_population_hand_in_and_split_report(db, connection, capsys, tmp_path):
    _build(db, connection)
    assert main(["register", "report", "gemeente_t", "--from", "2026-01-01", "--to", "2026-03-01",
                 "--population"]) == 1
    assert "has no population yet" in capsys.readouterr().err
    listing = tmp_path / "inwoners.csv"
    listing.write_text(f"bsn\n{A}\n{A}\n")
    assert main(["register", "population", "gemeente_t", "--hand-in", str(listing)]) == 0
    out = capsys.readouterr().out
    assert "population version 1 (full)" in out and "2 rows, 1 rejected, +1 -0, 1 BSNs now" in out
    assert "row 3: the BSN is also on row 2" in out
    assert main(["register", "population", "gemeente_t"]) == 0
    assert "version   1" in capsys.readouterr().out
    assert main(["register", "report", "gemeente_t", "--from", "2026-01-01", "--to", "2026-03-01",
                 "--population", "--bsns"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "gemeente_t (population version 1, 1 BSNs), from 2026-01-01 to 2026-03-01 (inclusive):",
        "  in the population: 1 sign-ups and 0 sign-offs", "  outside it: 1 sign-ups and 1 sign-offs",
        f"sign-up,in,{A}", f"sign-up,outside,{B}", f"sign-off,outside,{B}"]
    assert main(["register", "report", "gemeente_t", "--on", "2026-02-01", "--population"]) == 0
    assert "1 in the population, 1 outside it" in capsys.readouterr().out
    listing.write_text(f"bsn;tekst\n{A};x\n")
    assert main(["register", "population", "gemeente_t", "--hand-in", str(listing)]) == 1
    assert "one column of BSNs only" in capsys.readouterr().err



def test_export_shows_the_lines_written_on_a_terminal(db, driver, sftp):
    driver.refresh(DAY)
    subscribed = store.subscribed_on(db, driver.connection["id"], DAY)["count"]
    assert subscribed > 1000  # a list of some length
    code, out, lines = run_on_terminal("register", "export", "gemeente_t", "--day", DAY.isoformat())
    assert code == 0
    # stdout: the result (after what Airflow logs there in its unit-test mode)
    assert out.splitlines()[-1].startswith("written /gemeente-t/gemeente_t/outbox/register-gemeente_t-2026-03-02.csv "
                                           f"({subscribed:,} rows, sha256 ")
    assert lines and all(line.startswith("register export gemeente_t: ") for line in lines), lines
    assert re.fullmatch(rf"register export gemeente_t: {subscribed + 1:,} lines, [\d,]+ lines/s — done in \d+:\d\d",
                        lines[-1]), lines  # the header line counted too
    code, out, lines = run_on_terminal("register", "export", "gemeente_t", "--day", DAY.isoformat())
    assert (code, lines) == (0, []) and out.splitlines()[-1].startswith("already exported to ")  # nothing counted: no line


def test_population_hand_in_shows_the_rows_on_a_terminal(db, connection, tmp_path):
    rows = 30_000
    listing = tmp_path / "inwoners.csv"
    listing.write_text("bsn\n" + "".join(f"{b}\n" for b in bsn_rules.generate(rows, seed=77)))
    code, out, lines = run_on_terminal("register", "population", "gemeente_t", "--hand-in", str(listing))
    assert code == 0
    assert re.fullmatch(rf"gemeente_t: population version 1 \(full\) from submission \d+: {rows:,} rows, "
                        rf"0 rejected, \+{rows:,} -0, {rows:,} BSNs now", out.splitlines()[-1]), out
    assert all(line.startswith("population gemeente_t: ") and f"/{rows:,} rows (" in line for line in lines), lines
    assert re.fullmatch(rf"population gemeente_t: {rows:,}/{rows:,} rows \(100%\), [\d,]+ rows/s — done in \d+:\d\d",
                        lines[-1]), lines
