"""Deterministic subscribers per sender, computed, never stored.

A sender's population is a run of valid BSNs, chosen by the sender's seed. What each
member does is derived from a hash of (seed, BSN), so:

* whether one BSN is subscribed on a day is O(1), without a table;
* the full list and the changes since a date are *streamed* by walking the run; a
  population of millions costs no memory;
* every day has sign-ups and sign-offs, on any date (also the real one, years from
  now), so a register refresh on day N+1 sees real changes against day N.

Two kinds of members (shares from :class:`~simulator.config.PopulationSpec`):

* *stable*: subscribed once, on a day in the ``history_days`` before ``epoch``, for good;
* *cycling*: a cycle of ``L`` days (own length and phase): subscribed for the first
  ``A`` days of each cycle (50-90 % of ``L``), then not, then again. This gives
  the register its sign-ups, sign-offs and history (several periods per BSN).

BSN arithmetic: for an 8-digit prefix p (digits d1..d8) the 11-test
9·d1+…+2·d8 − d9 ≡ 0 (mod 11) fixes the check digit d9 = S(p) mod 11, valid only when
that is ≤ 9. So every prefix gives at most one valid BSN, and the run of prefixes
``p0 … p_end`` is enumerated without trial and error.

Day semantics (the same as in AbonnementAntwoord.xsd): a BSN is subscribed on day D
when ``start <= D`` and (no end or ``D < end``): ``end`` is the first day without.
What is known on day D is the current period (end unknown: ``NO_END``) or, when not
subscribed on D, the last period before D (with its end). Explicit subscriptions
(tests, the demo) replace the computed behaviour of a BSN with one fixed period.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import date

from simulator.config import PopulationSpec
from simulator.logius import passes_eleven_test

PREFIX_MIN = 10_000_000  # prefixes of BSNs 100000000 … 999999999
PREFIX_MAX = 99_999_999
NO_END = 0  # "still subscribed" in a (start, end) state
_M64 = 0xFFFFFFFFFFFFFFFF
_W7 = (9, 8, 7, 6, 5, 4, 3)
_U24 = 16_777_216.0

State = tuple[int, int]  # (start ordinal, end ordinal or NO_END) as known on a day
Entry = tuple[str, int, int]  # (bsn, start, end)


def _mix(z: int) -> int:
    """splitmix64 finaliser: a fast, well-spread 64-bit hash."""
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _s7(block: int) -> int:
    """Weighted digit sum of the 7-digit block (digits d1..d7 of the BSN)."""
    total = 0
    for weight in reversed(_W7):  # least significant digit has weight 3
        total += weight * (block % 10)
        block //= 10
    return total


def check_digit(prefix: int) -> int | None:
    """The ninth digit that makes ``prefix`` (8 digits) a valid BSN, or None."""
    d9 = (_s7(prefix // 10) + 2 * (prefix % 10)) % 11
    return d9 if d9 <= 9 else None


def _valid_in_block(s7: int) -> int:
    """How many of the 10 prefixes of a block give a valid BSN (9 or 10)."""
    # d8 with (s7 + 2*d8) % 11 == 10  <=>  d8 == (10 - s7) * 6 % 11  (6 = 2⁻¹ mod 11)
    return 10 if (10 - s7) * 6 % 11 == 10 else 9


class Population:
    """The subscribers of one sender. Thread-safe for reads; overrides under a lock."""

    def __init__(self, spec: PopulationSpec) -> None:
        self.spec = spec
        self._key = _mix(spec.seed * 0x2545F4914F6CDD1D + 0x5DEECE66D)
        self._epoch = spec.epoch.toordinal()
        self._cycle_span = spec.max_cycle_days - spec.min_cycle_days + 1
        self._lock = threading.Lock()
        self._overrides: dict[str, State] = {}  # bsn -> fixed (start, end)
        span_guess = spec.size * 11 // 10 + 20
        room = PREFIX_MAX - PREFIX_MIN - span_guess
        if room <= 0:
            raise ValueError(f"population of {spec.size} does not fit in the BSN range")
        self._p0 = (PREFIX_MIN + _mix(self._key) % room) // 10 * 10
        self._p_end = self._find_end(spec.size)

    # -- who is a member -------------------------------------------------------------------
    def _find_end(self, size: int) -> int:
        """The first prefix after the ``size``-th valid BSN from ``p0`` (exclusive end)."""
        block, remaining = self._p0 // 10, size
        while remaining > 0:
            s7 = _s7(block)
            count = _valid_in_block(s7)
            if count <= remaining:
                remaining -= count
                block += 1
                continue
            for d8 in range(10):  # the last, partial block
                if (s7 + 2 * d8) % 11 != 10:
                    remaining -= 1
                    if remaining == 0:
                        return block * 10 + d8 + 1
        return block * 10

    def is_member(self, bsn: str) -> bool:
        """Is ``bsn`` one of the computed population (ignores explicit subscriptions)?"""
        if len(bsn) != 9 or not bsn.isdigit():
            return False
        number = int(bsn)
        prefix = number // 10
        return self._p0 <= prefix < self._p_end and check_digit(prefix) == number % 10

    def _numbers(self) -> Iterator[int]:
        """Every member BSN as an int, in order."""
        p0, p_end = self._p0, self._p_end
        for block in range(p0 // 10, (p_end + 9) // 10):
            s7 = _s7(block)
            base = block * 100
            for d8 in range(10):
                d9 = (s7 + 2 * d8) % 11
                if d9 == 10:
                    continue
                prefix = block * 10 + d8
                if p0 <= prefix < p_end:
                    yield base + d8 * 10 + d9

    # -- what a member does ------------------------------------------------------------------
    def _shape(self, number: int) -> tuple[int, int, int]:
        """(cycle length L, subscribed days A, phase) — L == 0 means stable since A."""
        h1 = _mix(self._key ^ number)
        spec = self.spec
        if (h1 >> 40) / _U24 < spec.stable_share:
            return 0, self._epoch - 1 - int((h1 & 0xFFFFFF) / _U24 * spec.history_days), 0
        h2 = _mix(h1)
        length = spec.min_cycle_days + int((h2 & 0xFFFFFF) / _U24 * self._cycle_span)
        on = min(length - 1, max(1, int(length * (0.5 + 0.4 * ((h2 >> 40) / _U24)))))
        return length, on, int((h1 & 0xFFFFFF) / _U24 * length)

    @staticmethod
    def _state(shape: tuple[int, int, int], day: int) -> State | None:
        length, on, phase = shape
        if length == 0:
            return (on, NO_END) if on <= day else None
        start = day - (day - phase) % length
        return (start, NO_END) if day - start < on else (start, start + on)

    @staticmethod
    def _changed(shape: tuple[int, int, int], lo: int, hi: int) -> bool:
        """Is there a sign-up or sign-off on a day in ``(lo, hi]``?"""
        length, on, phase = shape
        if length == 0:
            return lo < on <= hi
        first = lo + 1
        next_signup = first + (phase - first) % length
        next_signoff = first + (phase + on - first) % length
        return min(next_signup, next_signoff) <= hi

    @staticmethod
    def _fixed_state(line: State, day: int) -> State | None:
        start, end = line
        if day < start:
            return None
        return (start, NO_END) if end == NO_END or day < end else line

    def state(self, bsn: str, day: date | int) -> State | None:
        """(start, end) of ``bsn``'s subscription as known on ``day``: the current one
        (end ``NO_END``) or the last one before ``day``; None if never subscribed."""
        ordinal = day if isinstance(day, int) else day.toordinal()
        line = self._overrides.get(bsn)
        if line is not None:
            return self._fixed_state(line, ordinal)
        if not self.is_member(bsn):
            return None
        return self._state(self._shape(int(bsn)), ordinal)

    def is_active(self, bsn: str, day: date | int) -> bool:
        """Is ``bsn`` subscribed to this sender on ``day``? O(1)."""
        found = self.state(bsn, day)
        return found is not None and found[1] == NO_END

    def next_change(self, bsn: str, day: date | int) -> int | None:
        """The first day after ``day`` on which ``bsn`` signs up or off (ordinal), if any."""
        ordinal = day if isinstance(day, int) else day.toordinal()
        for candidate in range(ordinal + 1, ordinal + self.spec.max_cycle_days + 2):
            if self.is_active(bsn, candidate) != self.is_active(bsn, candidate - 1):
                return candidate
        return None

    # -- explicit subscriptions ---------------------------------------------------------
    def subscribe(self, bsns: Iterable[str], start: date, until: date | None = None) -> int:
        """Make ``bsns`` subscribed from ``start`` (until ``until``, exclusive), fixed."""
        if until is not None and until <= start:
            raise ValueError("'until' must be after 'from'")
        line = (start.toordinal(), until.toordinal() if until else NO_END)
        bsns = list(bsns)
        wrong = [bsn for bsn in bsns if not passes_eleven_test(bsn)]
        if wrong:
            raise ValueError(f"{len(wrong)} value(s) are not valid BSNs (9 digits, 11-test)")
        with self._lock:
            for bsn in bsns:
                self._overrides[bsn] = line
            return len(bsns)

    # -- streaming ---------------------------------------------------------------------
    def _walk(self) -> Iterator[tuple[str, tuple[int, int, int] | None, State | None]]:
        """(bsn, computed shape, override) for every member, then the extra overrides."""
        overrides = dict(self._overrides)
        for number in self._numbers():
            bsn = f"{number:09d}"
            line = overrides.pop(bsn, None) if overrides else None
            yield bsn, (None if line is not None else self._shape(number)), line
        for bsn, line in overrides.items():
            yield bsn, None, line

    def states(self, day: date) -> Iterator[Entry]:
        """(bsn, start, end) of every BSN that is or was subscribed, as known on ``day``."""
        ordinal = day.toordinal()
        state, fixed = self._state, self._fixed_state
        for bsn, shape, line in self._walk():
            found = state(shape, ordinal) if shape is not None else fixed(line, ordinal)
            if found is not None:
                yield bsn, found[0], found[1]

    def active_on(self, day: date) -> Iterator[Entry]:
        """(bsn, start, NO_END) of every BSN subscribed on ``day``."""
        for entry in self.states(day):
            if entry[2] == NO_END:
                yield entry

    def changes(self, after: date, until: date) -> Iterator[Entry]:
        """BSNs that signed up or off on a day D with ``after < D <= until``, with their
        state as known on ``until``."""
        lo, hi = after.toordinal(), until.toordinal()
        state, fixed, changed = self._state, self._fixed_state, self._changed
        for bsn, shape, line in self._walk():
            if shape is not None:
                if changed(shape, lo, hi):
                    found = state(shape, hi)
                    if found is not None:
                        yield bsn, found[0], found[1]
            else:
                start, end = line
                if lo < start <= hi or (end != NO_END and lo < end <= hi):
                    found = fixed(line, hi)
                    if found is not None:
                        yield bsn, found[0], found[1]

    def sample(self, day: date, status: str, limit: int = 10) -> list[str]:
        """Example BSNs for tests: ``active`` (subscribed on ``day``), ``inactive`` (a
        member not subscribed on ``day``) or ``never`` (a valid BSN outside the
        population, never subscribed)."""
        found: list[str] = []
        if status == "never":
            prefix = self._p_end + 10
            while len(found) < limit and prefix <= PREFIX_MAX:
                digit = check_digit(prefix)
                if digit is not None:
                    candidate = f"{prefix * 10 + digit:09d}"
                    if candidate not in self._overrides:
                        found.append(candidate)
                prefix += 1
            return found
        if status not in ("active", "inactive"):
            raise ValueError("status must be active, inactive or never")
        ordinal = day.toordinal()
        for bsn, shape, line in self._walk():
            current = (
                self._state(shape, ordinal)
                if shape is not None
                else self._fixed_state(line, ordinal)
            )
            active = current is not None and current[1] == NO_END
            if active == (status == "active"):
                found.append(bsn)
                if len(found) >= limit:
                    break
        return found
