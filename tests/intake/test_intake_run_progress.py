"""``bbx intake run`` shows its steps (receive, validate, acknowledge per drop) on stderr
when it is a terminal and nothing otherwise or with ``--quiet``; its lines on stdout and
its exit code stay as they were. Real SFTP server, real PostgreSQL, the ``bbx`` command in
its own process with stderr on a pseudo-terminal."""

from __future__ import annotations

import re
import subprocess

from intake_helpers import csv_bytes, ready
from terminal import BBX, run_on_terminal

from bbx.domain import bsn as bsn_rules

LINE = re.compile(r"^voorbeeld: (?P<name>[\w-]+) → submission \d+: accepted, 2 accepted, 0 rejected$")
DRAWN = re.compile(r"^intake run: (?P<done>\d+)/6 steps \((?P<pct>\d+)%\)(, [\d,]+ steps/s(, \d+:\d\d left)?)?"
                   r"(?P<end> — done in \d+:\d\d)?$")


def _ours(stdout: str) -> list[str]:
    """The command's own lines (Airflow's log lines go to stdout too in the test setup)."""
    return [line for line in stdout.splitlines() if line.startswith("voorbeeld: ")]


def _drop(tenant, name: str, seed: int) -> None:
    body = "bsn\n" + "".join(f"{b}\n" for b in bsn_rules.generate(2, seed=seed))
    tenant.upload_drop(name, {"bsns.csv": csv_bytes(body)}, marker_content=ready("PASPRT"))


def test_intake_run_shows_its_steps_on_the_terminal_only(tenant):
    _drop(tenant, "drop-a", 731)
    _drop(tenant, "drop-b", 732)
    code, out, lines = run_on_terminal("intake", "run", "voorbeeld")
    assert code == 0
    printed = [LINE.match(line) for line in _ours(out)]
    assert all(printed) and sorted(m["name"] for m in printed) == ["drop-a", "drop-b"], out
    drawn = [DRAWN.match(line) for line in lines]
    assert all(drawn), lines  # nothing but progress on the terminal
    assert [int(m["done"]) for m in drawn] == sorted(int(m["done"]) for m in drawn)  # only forward
    assert drawn[-1]["end"] and drawn[-1]["done"] == "6" and drawn[-1]["pct"] == "100"

    _drop(tenant, "drop-c", 733)
    code, out, lines = run_on_terminal("intake", "run", "--quiet", "voorbeeld")
    assert code == 0 and [LINE.match(x)["name"] for x in _ours(out)] == ["drop-c"] and lines == []
    piped = subprocess.run([BBX, "intake", "run", "voorbeeld"], capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and _ours(piped.stdout) == [] and piped.stderr == ""  # nothing left, no progress
