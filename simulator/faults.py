"""Fault injection: the failures BBX must survive, on demand.

Two ways to ask for a fault, both changeable at run time through the admin API:

* a *rate* (0.0-1.0) draws the fault at random, from a seeded generator so that a run
  can be repeated;
* a *next_* counter makes exactly the next N occurrences fail, which is what a test
  wants ("the next sendMessage gets a 503"). Counters are used before rates.

The faults (names are the admin API's keys):

==============================  ===========================================================
``technisch_probleem``           a message in a batch gets ``TechnischProbleem`` (per message;
                                 it is NOT put in the citizen's box)
``http_500`` / ``http_503``      a service request is answered with that HTTP status, not
                                 processed
``drop``                         the connection is closed after half of the request body
                                 was read; nothing was processed
``drop_after_processing``        the request was processed, then the connection is closed
                                 without an answer (did it arrive? BBX cannot know)
``duplicate_result``             a result (or register answer) is delivered twice, as two
                                 inbound ebMS messages with the same payload
``latency`` (seconds)            added before every service request is handled
``result_extra_delay`` (s)       added to the delay of every result and register answer
==============================  ===========================================================
"""

from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass
from typing import Any

FAULTS = (
    "technisch_probleem",
    "http_500",
    "http_503",
    "drop",
    "drop_after_processing",
    "duplicate_result",
)


@dataclass
class FaultSettings:
    """The fault configuration; every field is a key of ``PUT /admin/faults``."""

    technisch_probleem_rate: float = 0.0
    http_500_rate: float = 0.0
    http_503_rate: float = 0.0
    drop_rate: float = 0.0
    drop_after_processing_rate: float = 0.0
    duplicate_result_rate: float = 0.0
    next_technisch_probleem: int = 0
    next_http_500: int = 0
    next_http_503: int = 0
    next_drop: int = 0
    next_drop_after_processing: int = 0
    next_duplicate_result: int = 0
    latency: float = 0.0
    result_extra_delay: float = 0.0
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultSettings:
        settings = cls()
        settings.apply(data)
        return settings

    def apply(self, changes: dict[str, Any]) -> None:
        """Change some settings, checking names and ranges first (all or nothing)."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(
                f"unknown fault setting(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(fields))}"
            )
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name.endswith("_rate"):
                value = float(value)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{name} must be between 0 and 1, got {value}")
            elif name.startswith("next_") or name == "seed":
                value = int(value)
                if value < 0:
                    raise ValueError(f"{name} must not be negative")
            else:
                value = float(value)
                if value < 0:
                    raise ValueError(f"{name} must not be negative")
            checked[name] = value
        for name, value in checked.items():
            setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class FaultInjector:
    """Decides, thread-safely, whether a fault happens now."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self._initial = dataclasses.replace(settings or FaultSettings())
        self.settings = dataclasses.replace(self._initial)
        self._rng = random.Random(self.settings.seed)
        self.injected: dict[str, int] = dict.fromkeys(FAULTS, 0)

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.settings.apply(changes)
            if "seed" in changes:
                self._rng = random.Random(self.settings.seed)
            return self.snapshot_locked()

    def reset(self, to_initial: bool = False) -> dict[str, Any]:
        """Back to no faults at all (or to the faults given at start)."""
        with self._lock:
            self.settings = dataclasses.replace(self._initial) if to_initial else FaultSettings()
            self._rng = random.Random(self.settings.seed)
            self.injected = dict.fromkeys(FAULTS, 0)
            return self.snapshot_locked()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.snapshot_locked()

    def snapshot_locked(self) -> dict[str, Any]:
        return {**self.settings.to_dict(), "injected": dict(self.injected)}

    def fires(self, fault: str) -> bool:
        """True when ``fault`` should happen now (uses up one ``next_`` count first)."""
        with self._lock:
            counter = f"next_{fault}"
            if getattr(self.settings, counter) > 0:
                setattr(self.settings, counter, getattr(self.settings, counter) - 1)
                self.injected[fault] += 1
                return True
            rate = getattr(self.settings, f"{fault}_rate")
            if rate > 0.0 and self._rng.random() < rate:
                self.injected[fault] += 1
                return True
            return False

    def any_message_faults(self) -> bool:
        """Cheap check so a batch without TechnischProbleem faults skips the per-message draw."""
        s = self.settings
        return s.next_technisch_probleem > 0 or s.technisch_probleem_rate > 0.0

    @property
    def latency(self) -> float:
        return self.settings.latency

    @property
    def result_extra_delay(self) -> float:
        return self.settings.result_extra_delay
