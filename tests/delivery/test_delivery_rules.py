"""bbx.domain.delivery: size bounds, slices over several submissions, result files (pure)."""

from __future__ import annotations

import base64
import csv
import io
from datetime import UTC, datetime

import pytest
from delivery_helpers import pdf_bytes

from bbx.domain import attachments, delivery, globe
from bbx.domain.chunking import cut_batches
from bbx.domain.limits import MAX_BATCH_BYTES, MAX_TEXT_CHARS


def _message(text: str, pdfs: tuple[bytes, ...] = (), message_id: str = "0" * 8 + "-0000-0000-0000-" + "0" * 12):
    return globe.OutgoingMessage(
        message_id=message_id, message_type_code="PASPRT", subject="&" * 50, bsn="249566758",
        text=text, reference="<" * 25,
        publication_date=datetime(2026, 3, 1, tzinfo=UTC),
        attachments=tuple(globe.Attachment("é" * 128, p, i) for i, p in enumerate(pdfs, 1)),
    )


def test_size_bound_holds_for_the_worst_text():
    worst = "\U0001f600&\n" * (MAX_TEXT_CHARS // 3)
    assert globe.serialized_size(_message(worst)) <= delivery.size_bound((), ())
    assert globe.serialized_size(_message("&" * MAX_TEXT_CHARS)) <= delivery.size_bound((), ())


def test_size_bound_holds_for_attachments_as_composed():
    standard = attachments.prepare_standard_set(
        [attachments.SourcePdf("folder", pdf_bytes("folder", 3)), attachments.SourcePdf("privacy", pdf_bytes("p", 2))]
    )
    personal = [attachments.SourcePdf("brief", pdf_bytes("brief 1", 2)), attachments.SourcePdf("b2", pdf_bytes("b2"))]
    composed = attachments.compose(standard, personal)
    assert composed.ok
    size = globe.serialized_size(_message("tekst", tuple(a.pdf_bytes for a in composed.attachments)))
    bound = delivery.size_bound([len(p.content) for p in personal], [len(p.content) for p in standard.pdfs])
    assert size <= bound


def test_size_bound_caps_at_the_attachment_limit():
    huge = delivery.size_bound([400_000, 400_000], [400_000])
    assert huge == delivery.size_bound([10_000_000], [])
    assert huge < 800_000  # 500 kB as base64 plus the message


def test_batches_from_bounds_never_exceed_100_mb():
    items = [(str(i), delivery.size_bound([450_000], [])) for i in range(1000)]
    batches = list(cut_batches(items))
    assert all(b.estimated_bytes <= MAX_BATCH_BYTES for b in batches)
    assert sum(len(b.message_ids) for b in batches) == 1000
    assert len(batches) == 7  # 500 kB personal PDFs: about 150 per batch
    text_only = list(cut_batches((str(i), delivery.size_bound((), ())) for i in range(2500)))
    assert [len(b.message_ids) for b in text_only] == [1000, 1000, 500]


def _pending(counts: dict[int, int]) -> list[delivery.PendingBatch]:
    return [
        delivery.PendingBatch(f"b-{s}-{n}", s, n) for s, count in counts.items() for n in range(1, count + 1)
    ]


def test_slices_cover_every_batch_once_in_order():
    pending = _pending({7: 25, 8: 1, 9: 3})
    slices = delivery.plan_slices(pending, batches_per_slice=10)
    assert [len(s["batch_ids"]) for s in slices] == [10, 10, 9]
    assert [b for s in slices for b in s["batch_ids"]] == [p.batch_id for p in pending]
    assert slices[0]["label"] == "slice 1/3: submission 7 batches 1-10"
    assert slices[2]["label"] == "slice 3/3: submissions 7-9 (9 batches)"
    assert {s["count"] for s in slices} == {3}


def test_a_million_message_submission_respects_max_map_length():
    pending = _pending({1: 1000})
    slices = delivery.plan_slices(pending, batches_per_slice=1, max_map_length=64)
    assert len(slices) <= 64
    assert sum(len(s["batch_ids"]) for s in slices) == 1000
    assert delivery.plan_slices([], max_map_length=64) == []


def test_slices_are_as_many_as_the_send_pool_runs_at_once():
    # 400 batches (1M rows, 40 % subscribed), pool of 4: 4 send tasks of 100, not 40 of 10
    slices = delivery.plan_slices(_pending({1: 400}), batches_per_slice=10, max_slices=4)
    assert [len(s["batch_ids"]) for s in slices] == [100, 100, 100, 100]
    # few batches stay in one task: a task start-up costs more than sending them
    assert len(delivery.plan_slices(_pending({1: 7}), batches_per_slice=10, max_slices=4)) == 1
    # max_map_length still bounds it
    assert len(delivery.plan_slices(_pending({1: 50}), batches_per_slice=1, max_slices=8, max_map_length=5)) == 5


def _read(chunks) -> list[list[str]]:
    data = b"".join(chunks)
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_result_file_is_excel_friendly_csv():
    final = datetime(2026, 3, 1, 13, 5, 9, tzinfo=UTC)
    rows = [
        {"row_number": 1, "bsn": "012345672", "outcome": "delivered", "outcome_code": "Verwerkt",
         "outcome_reason": "ok", "message_id": "m1", "final_at": final, "standard_text_version": 3},
        {"row_number": 2, "bsn": None, "outcome": "rejected", "outcome_code": "validation",
         "outcome_reason": 'BSN "x"; fails the 11-test', "message_id": None, "final_at": final,
         "standard_text_version": None},
    ]
    table = _read(delivery.result_file_rows(rows))
    # the standard-text version is the last column: the earlier ones keep their positions
    assert table[0] == [*delivery.result_columns(), "standaardtekst_versie"]
    assert table[1] == ["1", "012345672", "bezorgd", "delivered", "Verwerkt", "ok", "m1", "2026-03-01 14:05:09", "3"]
    assert table[2][:5] == ["2", "", "afgekeurd", "rejected", "validation"]
    assert table[2][5] == 'BSN "x"; fails the 11-test'
    assert table[2][-1] == ""  # a rejected row became no message: no version


def test_result_file_streams_large_submissions():
    rows = ({"row_number": i, "bsn": "249566758", "outcome": "delivered", "outcome_code": "Verwerkt",
             "outcome_reason": None, "message_id": None, "final_at": None} for i in range(1, 5001))
    chunks = list(delivery.result_file_rows(rows))
    assert len(chunks) > 3
    assert len(_read(chunks)) == 5001


@pytest.mark.parametrize(("channel", "drop", "expected"), [
    ("sftp", "UPO 2026 fase 1", "UPO_2026_fase_1.s42.results.csv"),
    ("sftp", "../../etc/passwd", "etc_passwd.s42.results.csv"),
    ("api", None, "api.s42.results.csv"),
])
def test_result_file_names_sit_next_to_intakes_reports(channel, drop, expected):
    assert delivery.result_file_names(42, channel, drop) == (expected, expected.replace("results", "undeliverable"))


def test_personal_descriptions_never_hold_the_file_name():
    assert all(d and "pdf" not in d.lower() for d in delivery.PERSONAL_ATTACHMENT_DESCRIPTIONS)
    assert base64  # (imported for symmetry with the size tests)
