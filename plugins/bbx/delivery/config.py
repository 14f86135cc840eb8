"""Delivery settings, in one place (environment variables override the defaults)."""

from __future__ import annotations

import os

from bbx.domain.localtime import TIMEZONE

# The register decision uses the date in the Netherlands on the day of sending.
SEND_TIMEZONE = TIMEZONE

# Sends of one message (first send + resends after TechnischProbleem) before it fails.
MAX_SEND_ATTEMPTS = int(os.environ.get("BBX_MAX_SEND_ATTEMPTS", "3"))

# GLOBE batches per mapped delivery task, at least (more per task when there would be
# more slices than send_slices() or [core] max_map_length).
BATCHES_PER_SLICE = int(os.environ.get("BBX_BATCHES_PER_SLICE", "10"))

# Delay before bbx_deliver's first retry of a task (doubling after each); the Celery
# worker-loss test shortens it, its stack re-runs a killed worker's send sooner.
RETRY_DELAY_SECONDS = float(os.environ.get("BBX_DELIVERY_RETRY_DELAY_SECONDS", "60"))

# The Airflow pool every call to the Berichtenbox runs in (caps concurrent sends).
POOL = os.environ.get("BBX_BERICHTENBOX_POOL", "berichtenbox")
POOL_SLOTS_DEFAULT = 4


def send_slices() -> int:
    """Slices (mapped send tasks) per run at most: the ``berichtenbox`` pool's slots
    (``BBX_SEND_SLICES``, set by ``bbx.stack``). Each send task costs a task start-up
    (seconds under load); more slices than slots only wait in the pool."""
    return max(1, int(os.environ.get("BBX_SEND_SLICES", POOL_SLOTS_DEFAULT)))


# the Celery queue of every task that talks to the ebMS adapter (send, collect results):
# sending capacity is added by starting workers on this queue, apart from the workers of
# the default queue (intake, register, plan); the LocalExecutor ignores queues
QUEUE = os.environ.get("BBX_BERICHTENBOX_QUEUE", "berichtenbox")

# Waiting for results: seconds between polls (the task is deferred in between, so it
# holds no worker slot), and how long a delivery run waits before it gives up (the
# bbx_collect_results DAG keeps collecting after that).
RESULT_POLL_SECONDS = float(os.environ.get("BBX_RESULT_POLL_SECONDS", "30"))
RESULT_WAIT_HOURS = float(os.environ.get("BBX_RESULT_WAIT_HOURS", "12"))


def result_wait_hours() -> float:
    """``BBX_RESULT_WAIT_HOURS`` read when the task runs (the worker's environment)."""
    return float(os.environ.get("BBX_RESULT_WAIT_HOURS", RESULT_WAIT_HOURS))

# The sweep for messages acknowledged without a result (bbx_sweep_stuck): after this
# many minutes they are sent again (same BerichtIDs), up to MAX_SEND_ATTEMPTS sends.
STUCK_AFTER_MINUTES = 240


def stuck_after_minutes() -> int:
    return int(os.environ.get("BBX_STUCK_AFTER_MINUTES", STUCK_AFTER_MINUTES))


# Inbound messages fetched per getUnprocessedMessageIds call.
RESULT_FETCH_SIZE = 100

# A connection is polled for results while it has a submission being delivered, or
# sent a batch within this many days (late duplicates are acknowledged too).
RESULT_POLL_RECENT_DAYS = 7


def hook_backoff() -> float:
    """Seconds before the hook's first retry (doubling after each); read when used, so
    tests and the demo can shorten it with ``BBX_HOOK_BACKOFF``."""
    return float(os.environ.get("BBX_HOOK_BACKOFF", "1.0"))
