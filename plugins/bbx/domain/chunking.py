"""Cutting messages into GLOBE batches, and batches into delivery slices for task mapping.

Two levels, because two limits differ by orders of magnitude:

- a **batch** is what MijnOverheid accepts in one ``GLOBE-R-BV-Request``: at most
  1000 messages and 100 MB (``limits.py``); a 1,000,000-message submission is 1000 batches;
- a **delivery slice** is what one mapped Airflow task sends: a run of consecutive batch
  numbers. Airflow refuses to expand more than ``[core] max_map_length`` (default 1024)
  task instances, and one task per batch would be heavy on the scheduler anyway.

Both are deterministic: the same input in the same order gives the same batches and
slices, so batch numbers (and so ``ids.batch_id``) are stable across reruns as long as the
planner feeds the same ordered list — store the batch of each message when planning,
rather than recomputing it on a rerun over "what is left".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bbx.domain.globe import ENVELOPE_MAX_BYTES
from bbx.domain.limits import MAX_BATCH_BYTES, MAX_MESSAGES_PER_BATCH

DEFAULT_MAX_MAP_LENGTH = 1024  # Airflow's [core] max_map_length default
DEFAULT_BATCHES_PER_SLICE = 10  # 1000 batches -> 100 mapped delivery tasks


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    """One GLOBE batch to build: its number in the submission and its messages in order."""

    number: int  # 1-based; feeds bbx.domain.ids.batch_id
    message_ids: tuple[str, ...]
    estimated_bytes: int  # upper bound of the serialized batch


def cut_batches(
    items: Iterable[tuple[str, int]],
    *,
    max_messages: int = MAX_MESSAGES_PER_BATCH,
    max_bytes: int = MAX_BATCH_BYTES,
    envelope_bytes: int = ENVELOPE_MAX_BYTES,
    first_number: int = 1,
) -> Iterator[PlannedBatch]:
    """Yield batches of consecutive ``(message_id, size_estimate)`` items, in input order.

    A batch is closed when the next message would exceed ``max_messages`` or
    ``max_bytes`` (``envelope_bytes`` + the sum of the messages' sizes; use
    ``globe.serialized_size``). Streaming: only the current batch is held, so a
    server-side cursor over a million rows can feed it. ``first_number`` continues the
    numbering, e.g. for a resend batch after ``TechnischProbleem``.
    """
    if max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    room = max_bytes - envelope_bytes
    if room <= 0:
        raise ValueError("max_bytes must leave room beyond the batch envelope")
    number = first_number
    ids: list[str] = []
    used = 0
    for message_id, size in items:
        if size < 0:
            raise ValueError(f"message {message_id}: negative size estimate {size}")
        if size > room:
            raise ValueError(
                f"message {message_id} is {size:,} bytes as XML, more than fits in one batch "
                f"({room:,}); its attachments should have been rejected before planning"
            )
        if ids and (len(ids) == max_messages or used + size > room):
            yield PlannedBatch(number, tuple(ids), envelope_bytes + used)
            number += 1
            ids, used = [], 0
        ids.append(message_id)
        used += size
    if ids:
        yield PlannedBatch(number, tuple(ids), envelope_bytes + used)


@dataclass(frozen=True, slots=True)
class DeliverySlice:
    """The batches one mapped delivery task sends: ``first_batch..last_batch`` inclusive."""

    index: int  # 0-based, equals the Airflow map index
    first_batch: int
    last_batch: int
    slice_count: int

    @property
    def batch_numbers(self) -> range:
        return range(self.first_batch, self.last_batch + 1)

    @property
    def label(self) -> str:
        """For ``map_index_template``: tells the operator which chunk a task is."""
        return (
            f"slice {self.index + 1}/{self.slice_count}: "
            f"batches {self.first_batch}-{self.last_batch}"
        )

    def as_dict(self) -> dict[str, int]:
        """JSON-friendly form for XCom / ``expand(...)``."""
        return {
            "index": self.index,
            "first_batch": self.first_batch,
            "last_batch": self.last_batch,
            "slice_count": self.slice_count,
        }


def delivery_slices(
    batch_count: int,
    *,
    batches_per_slice: int = DEFAULT_BATCHES_PER_SLICE,
    max_map_length: int = DEFAULT_MAX_MAP_LENGTH,
    first_batch: int = 1,
) -> list[DeliverySlice]:
    """Split batches ``first_batch .. first_batch + batch_count - 1`` into slices.

    Aims at ``batches_per_slice`` per slice but never yields more than
    ``max_map_length`` slices (a slice then takes more batches); slice sizes differ by at
    most one, earlier slices taking the extra batch. No batches, no slices.
    """
    if batch_count < 0:
        raise ValueError("batch_count cannot be negative")
    if batches_per_slice < 1 or max_map_length < 1:
        raise ValueError("batches_per_slice and max_map_length must be at least 1")
    if batch_count == 0:
        return []
    per_slice = max(batches_per_slice, -(-batch_count // max_map_length))
    slice_count = -(-batch_count // per_slice)
    base, extra = divmod(batch_count, slice_count)
    slices: list[DeliverySlice] = []
    start = first_batch
    for index in range(slice_count):
        size = base + (1 if index < extra else 0)
        slices.append(DeliverySlice(index, start, start + size - 1, slice_count))
        start += size
    return slices
