"""bbx.progress: what a long-running command draws on a terminal, and that it stays silent
elsewhere. The clock is a counter the test moves, so the rates are exact."""

from __future__ import annotations

import io

from bbx.progress import Progress, duration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _lines(stream: io.StringIO) -> list[str]:
    return [
        line
        for line in stream.getvalue().replace("\x1b[K", "").replace("\r", "\n").split("\n")
        if line
    ]


def test_count_total_rate_and_time_left_redrawn_in_place():
    terminal, clock = Terminal(), Clock()
    with Progress("export", 10_000, stream=terminal, clock=clock) as progress:
        progress.update(1)  # the first moments: no rate yet
        clock.now += 2
        progress.update(2_000)
        clock.now += 0.1
        progress.update(2_100)  # within the interval: not redrawn
        clock.now += 0.15
        progress.update(2_500)
        clock.now += 5.75
        progress.update(10_000)
    assert _lines(terminal) == [
        "export: 1/10,000 rows (0%)",
        "export: 2,000/10,000 rows (20%), 1,000 rows/s, 0:08 left",
        "export: 2,500/10,000 rows (25%), 1,111 rows/s, 0:07 left",
        "export: 10,000/10,000 rows (100%), 1,250 rows/s",
        "export: 10,000/10,000 rows (100%), 1,250 rows/s — done in 0:08",
    ]
    assert terminal.getvalue().count("\n") == 1  # one line, redrawn; a newline only at the end


def test_without_a_total_a_count_and_a_rate_and_stopped_when_it_failed():
    terminal, clock = Terminal(), Clock()
    progress = Progress("audit list", stream=terminal, unit="entries", clock=clock)
    try:
        with progress:
            for _ in progress.track(range(3)):
                clock.now += 1
            raise RuntimeError("the connection went")
    except RuntimeError:
        pass
    assert _lines(terminal)[-1] == "audit list: 3 entries, 1 entries/s — stopped"


def test_silent_when_not_a_terminal_or_quiet_or_nothing_counted():
    for stream, quiet in ((io.StringIO(), False), (Terminal(), True)):
        with Progress("verify", 5, stream=stream, quiet=quiet) as progress:
            list(progress.track(range(5)))
        assert stream.getvalue() == ""
    idle = Terminal()
    with Progress("register export", stream=idle):
        pass  # the day was exported already
    assert idle.getvalue() == ""


def test_duration():
    assert [duration(s) for s in (0, 7.4, 750, 7500)] == ["0:00", "0:07", "12:30", "2:05:00"]
