"""Cutting messages into GLOBE batches and batches into delivery slices."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from bbx.domain import bsn, ids
from bbx.domain.chunking import (
    DeliverySlice,
    PlannedBatch,
    cut_batches,
    delivery_slices,
)
from bbx.domain.globe import (
    ENVELOPE_MAX_BYTES,
    Attachment,
    BatchHeader,
    OutgoingMessage,
    build_batch,
    serialized_size,
)
from bbx.domain.limits import MAX_BATCH_BYTES


def numbered(count: int, size: int = 700):
    return ((f"m{i}", size) for i in range(count))


def test_cut_by_message_count_keeps_order_and_numbers_from_one():
    batches = list(cut_batches(numbered(2500)))

    assert [b.number for b in batches] == [1, 2, 3]
    assert [len(b.message_ids) for b in batches] == [1000, 1000, 500]
    assert list(itertools.chain.from_iterable(b.message_ids for b in batches)) == [
        f"m{i}" for i in range(2500)
    ]
    assert batches[2].estimated_bytes == ENVELOPE_MAX_BYTES + 500 * 700


def test_cut_by_bytes_before_count():
    # 400 kB messages with attachments: 100 MB holds 262 of them, not 1000.
    size = 400 * 1024
    batches = list(cut_batches(numbered(600, size)))
    per_batch = (MAX_BATCH_BYTES - ENVELOPE_MAX_BYTES) // size

    assert [len(b.message_ids) for b in batches] == [per_batch, per_batch, 600 - 2 * per_batch]
    assert all(b.estimated_bytes <= MAX_BATCH_BYTES for b in batches)


def test_mixed_sizes_close_a_batch_when_the_next_would_not_fit():
    items = [("a", 40), ("b", 40), ("c", 30), ("d", 1), ("e", 60)]  # room is 90
    batches = list(cut_batches(items, max_bytes=100, envelope_bytes=10))
    assert [b.message_ids for b in batches] == [("a", "b"), ("c", "d"), ("e",)]
    assert [b.estimated_bytes for b in batches] == [90, 41, 70]


def test_first_number_continues_numbering():
    batches = list(cut_batches(numbered(3), max_messages=2, first_number=1001))
    assert [(b.number, b.message_ids) for b in batches] == [(1001, ("m0", "m1")), (1002, ("m2",))]


def test_cutting_is_deterministic():
    assert list(cut_batches(numbered(2345, 333))) == list(cut_batches(numbered(2345, 333)))


def test_empty_input_gives_no_batches():
    assert list(cut_batches([])) == []


def test_a_message_too_large_for_any_batch_is_refused():
    with pytest.raises(ValueError, match="m1 is"):
        list(cut_batches([("m0", 10), ("m1", MAX_BATCH_BYTES)]))


def test_cutting_streams_without_reading_everything():
    endless = ((f"m{i}", 100) for i in itertools.count())
    first_two = list(itertools.islice(cut_batches(endless), 2))
    assert [b.number for b in first_two] == [1, 2]
    assert first_two[1].message_ids[0] == "m1000"


def test_a_million_messages_make_a_thousand_batches_and_mappable_slices():
    sizes = (row for row in numbered(1_000_000, 900))
    count = sum(1 for _ in cut_batches(sizes))
    assert count == 1000

    slices = delivery_slices(count)
    assert len(slices) == 100 <= 1024
    assert slices[0] == DeliverySlice(0, 1, 10, 100)
    assert slices[-1] == DeliverySlice(99, 991, 1000, 100)


def test_built_batches_stay_within_the_byte_limit_used_for_cutting():
    """serialized_size + ENVELOPE_MAX_BYTES is a true upper bound of build_batch."""
    pdf = b"%PDF-1.7 " + bytes(range(256)) * 8
    messages = [
        OutgoingMessage(
            message_id=ids.message_id("c", "s", number),
            message_type_code="T1",
            subject="Onderwerp & <meer>",
            text="regel\n" * (i % 7),
            bsn=number,
            attachments=(Attachment("Bijlage", pdf, 1),) if i % 3 == 0 else (),
        )
        for i, number in enumerate(bsn.generate(60, seed=3))
    ]
    by_id = {m.message_id: m for m in messages}
    limit = 25_000
    batches = list(
        cut_batches(((m.message_id, serialized_size(m)) for m in messages), max_bytes=limit)
    )
    assert len(batches) > 3
    for batch in batches:
        header = BatchHeader(
            ids.batch_id("c", "s", batch.number), datetime(2026, 1, 1, tzinfo=UTC), "1" * 20
        )
        data = build_batch(header, [by_id[i] for i in batch.message_ids])
        assert len(data) <= batch.estimated_bytes <= limit


# --------------------------------------------------------------------------- slices


def test_slices_never_exceed_max_map_length_and_are_balanced():
    slices = delivery_slices(5000, batches_per_slice=1, max_map_length=1024)
    sizes = [len(s.batch_numbers) for s in slices]

    assert len(slices) <= 1024
    assert max(sizes) - min(sizes) <= 1
    assert [s.index for s in slices] == list(range(len(slices)))
    assert [n for s in slices for n in s.batch_numbers] == list(range(1, 5001))


def test_slices_follow_the_target_when_it_fits():
    slices = delivery_slices(25, batches_per_slice=10)
    assert [(s.first_batch, s.last_batch) for s in slices] == [(1, 9), (10, 17), (18, 25)]


def test_one_slice_per_batch_when_asked_and_allowed():
    slices = delivery_slices(1000, batches_per_slice=1)
    assert len(slices) == 1000
    assert all(s.first_batch == s.last_batch == s.index + 1 for s in slices)


def test_slices_can_start_after_earlier_batches():
    slices = delivery_slices(3, batches_per_slice=2, first_batch=1001)
    assert [list(s.batch_numbers) for s in slices] == [[1001, 1002], [1003]]


def test_no_batches_no_slices():
    assert delivery_slices(0) == []


def test_slice_label_and_dict_for_airflow():
    piece = delivery_slices(20, batches_per_slice=10)[1]
    assert piece.label == "slice 2/2: batches 11-20"
    assert piece.as_dict() == {"index": 1, "first_batch": 11, "last_batch": 20, "slice_count": 2}


@pytest.mark.parametrize("kwargs", [{"batches_per_slice": 0}, {"max_map_length": 0}])
def test_slice_parameters_must_be_positive(kwargs):
    with pytest.raises(ValueError):
        delivery_slices(10, **kwargs)


def test_planned_batch_is_plain_data():
    batch = next(cut_batches([("x", 1)]))
    assert batch == PlannedBatch(1, ("x",), ENVELOPE_MAX_BYTES + 1)
