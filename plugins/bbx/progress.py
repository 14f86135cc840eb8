"""Progress of a long-running ``bbx`` command on stderr: count/total, rate, time left.

One line, redrawn in place (``\\r``) at most every ``interval`` seconds, and a last line
with the total time when the work is done. Only on a terminal: when stderr is a pipe or a
file (cron, a script, a CI log) or with ``--quiet`` nothing is written, so logs do not
fill with redraws; stdout is never touched, so what a command prints there stays
machine-readable (``bbx audit list --csv > file``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")
RATE_AFTER = 1.0  # seconds before a rate and the time left are shown


def add_argument(parser) -> None:
    """``--quiet`` for a subcommand that shows progress."""
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def duration(seconds: float) -> str:
    """``0:07``, ``12:30``, ``2:05:00``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class Progress:
    """``label: 12,000/50,000 rows (24%), 3,100 rows/s, 0:12 left`` (without a total:
    ``label: 12,000 rows, 3,100 rows/s``)."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "rows",
        quiet: bool = False,
        stream: TextIO | None = None,
        interval: float = 0.2,
        clock=time.monotonic,
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.shown = not quiet and self.stream.isatty()
        self.label, self.total, self.unit, self.interval, self.clock = (
            label,
            total,
            unit,
            interval,
            clock,
        )
        self.done = 0
        self.started = clock()
        self._drawn_at: float | None = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind, *_) -> None:
        self.finish(completed=kind is None)

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if not self.shown:
            return
        now = self.clock()
        if self._drawn_at is None or now - self._drawn_at >= self.interval:
            self._drawn_at = now
            self._draw(self.line(now))

    def clear(self) -> None:
        """Erase the drawn line before the command prints a line of its own (stdout on the
        same terminal would otherwise run on after it); the next update draws it again."""
        if self.shown and self._drawn_at is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn_at = self.clock() - self.interval

    def track(self, items: Iterable[T]) -> Iterator[T]:
        """``items`` as they are, each one counted."""
        for item in items:
            yield item
            self.advance()

    def line(self, now: float, final: bool = False) -> str:
        count = f"{self.done:,}"
        if self.total:
            count += f"/{self.total:,} {self.unit} ({min(100, 100 * self.done // self.total)}%)"
        else:
            count += f" {self.unit}"
        elapsed = now - self.started
        if elapsed < RATE_AFTER and not final:  # a rate of the first moments is noise
            return f"{self.label}: {count}"
        rate = self.done / elapsed if elapsed > 0 else 0.0
        line = f"{self.label}: {count}, {rate:,.0f} {self.unit}/s"
        if self.total and rate > 0 and self.done < self.total:
            line += f", {duration((self.total - self.done) / rate)} left"
        return line

    def finish(self, completed: bool = True) -> None:
        """The last line: the count, how long it took (or that it stopped); none when there
        was nothing to count (``bbx register export`` of a day done already)."""
        if not self.shown or self._drawn_at is None:
            return
        now = self.clock()
        how = f"done in {duration(now - self.started)}" if completed else "stopped"
        self._draw(f"{self.line(now, final=True)} — {how}")
        self.stream.write("\n")
        self.stream.flush()
        self.shown = False  # once

    def _draw(self, line: str) -> None:
        self.stream.write(f"\r{line}\x1b[K")  # \x1b[K: clear what a longer line left behind
        self.stream.flush()
