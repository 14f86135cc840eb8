"""Long-running ``bbx`` commands show their progress on stderr when it is a terminal
(count/total, rate, time left; issue 18) and nothing otherwise or with ``--quiet``; stdout
stays what scripts read. Real parts: PostgreSQL, the ``bbx`` command in its own process
with stderr on a pseudo-terminal."""

from __future__ import annotations

import csv
import io
import re
import subprocess

from terminal import BBX, run_on_terminal

from bbx.domain import bsn as bsn_rules
from bbx.store import audit

DRAWN = re.compile(
    r"^(?P<label>[^:]+): (?P<done>[\d,]+)/(?P<total>[\d,]+) (?P<unit>\w+) \((?P<pct>\d+)%\)"
    r"(, [\d,]+ (?P=unit)/s(, \d+:\d\d left)?)?(?P<end> — done in \d+:\d\d)?$"
)


def _drawn(lines: list[str], label: str) -> list[re.Match]:
    matches = [DRAWN.match(line) for line in lines]
    assert all(matches), lines  # nothing but progress lines on the terminal
    assert {m["label"] for m in matches} == {label}, lines
    return matches


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _entries(db, n: int) -> None:
    for i in range(n):
        audit.record(db, actor="user:tester", action="test.step", details={"i": i})
    db.commit()


def test_audit_verify_and_the_csv_listing_show_progress_on_the_terminal_only(db, database_url):
    _entries(db, 2500)
    total = audit.entry_count(database_url)

    code, out, lines = run_on_terminal("audit", "verify")
    assert (
        code == 0
        and out.startswith(f"checked {total:,} entries in ")
        and "chain intact; head " in out
    )
    drawn = _drawn(lines, "audit verify")
    assert all(_number(m["total"]) == total for m in drawn)
    assert [_number(m["done"]) for m in drawn] == sorted(
        _number(m["done"]) for m in drawn
    )  # only forward
    assert drawn[-1]["end"] and _number(drawn[-1]["done"]) == total and drawn[-1]["pct"] == "100"
    assert all(not m["end"] for m in drawn[:-1])  # one last line

    code, out, lines = run_on_terminal("audit", "verify", "--quiet")
    assert code == 0 and "chain intact" in out and lines == []

    piped = subprocess.run([BBX, "audit", "verify"], capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stderr == ""  # not a terminal: no progress

    code, out, lines = run_on_terminal("audit", "list", "--csv")
    assert code == 0
    listed = list(csv.reader(io.StringIO(out.lstrip("\ufeff")), delimiter=";"))
    assert len(listed) == total + 1  # the header and every entry: stdout is the CSV alone
    assert re.fullmatch(
        rf"audit list: {total:,} entries, [\d,]+ entries/s — done in \d+:\d\d", lines[-1]
    ), lines


def test_intake_check_of_a_big_list_shows_rows_checked(tmp_path):
    rows = 20_000
    good = bsn_rules.generate(rows - 1, seed=181)
    (tmp_path / "bsns.csv").write_text("bsn\n" + "".join(f"{b}\n" for b in good) + "12345\n")
    (tmp_path / "READY").write_text("message_type: WOZ2026\n")
    code, out, lines = run_on_terminal("intake", "check", str(tmp_path))
    assert code == 0
    assert out.splitlines()[-2:] == [  # the rejected rows after the progress, not inside it
        f"  bsns.csv row {rows + 1}: BSN moet 9 cijfers hebben, gevonden: 5",
        f"OK: {rows - 1:,} row(s) would be accepted, 1 rejected (BSNs handed in earlier are checked by BBX itself)",
    ]
    drawn = _drawn(lines, f"checking {tmp_path.name}")
    assert all(_number(m["total"]) == rows for m in drawn) and drawn[-1]["end"]
    assert _number(drawn[-1]["done"]) == rows


def test_config_apply_shows_connections_applied_and_prints_its_summary_as_before(db, database_url,
                                                                                  sample_config_path):
    from bbx.config.model import load

    connections = sum(len(t.connections) for t in load(sample_config_path).tenants)
    code, out, lines = run_on_terminal("config", "apply", str(sample_config_path))
    assert code == 0 and re.fullmatch(rf"applied {re.escape(str(sample_config_path))}: \d+ created, 0 updated, "
                                      r"0 unchanged, 0 deactivated\n", out), out
    drawn = _drawn(lines, "config apply")
    assert all(_number(m["total"]) == connections and m["unit"] == "connections" for m in drawn)
    assert drawn[-1]["end"] and _number(drawn[-1]["done"]) == connections

    code, out, lines = run_on_terminal("config", "apply", "--quiet", str(sample_config_path))
    assert code == 0 and "0 created" in out and lines == []
    piped = subprocess.run([BBX, "config", "apply", str(sample_config_path)], capture_output=True, text=True,
                           timeout=120)
    assert piped.returncode == 0 and piped.stderr == "" and "0 created" in piped.stdout
