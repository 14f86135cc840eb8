"""The subscription request (as Logius's examples) and the streamed subscription answer."""

from __future__ import annotations

import gzip
import io
import itertools
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from bbx import schemas
from bbx.domain import bsn, ids
from bbx.domain.subscription import (
    NS_SUBSCRIPTION,
    AnswerHeader,
    SubscriptionAnswerError,
    SubscriptionEntry,
    SubscriptionStatus,
    build_subscription_request,
    iter_subscription_answer,
)

EXAMPLES = (Path(__file__).parents[2] / "../shared/reference/logius/examples").resolve()
OIN = "00000001234567890000"
REQUEST_ID = ids.subscription_request_id("gemeente-a", "2026-03-02", "full")
BSNS = list(bsn.generate(5, seed=11))


def shape(xml: bytes) -> list[tuple[int, str]]:
    """The element structure (depth, qualified tag), ignoring values and whitespace."""
    root = etree.fromstring(xml)
    return [(len(list(e.iterancestors())), e.tag) for e in root.iter()]


def example(name: str) -> bytes:
    path = EXAMPLES / f"GLOBE-R-A-Request-{name}.xml"
    if not path.is_file():
        pytest.fail(f"official Logius examples not found at {EXAMPLES} (shared/ must lie beside the project)")
    return path.read_bytes()


# --------------------------------------------------------------------------- request


def test_full_list_request_has_the_shape_of_the_official_example():
    data = build_subscription_request(OIN, REQUEST_ID)
    assert shape(data) == shape(example("Volledig"))

    root = etree.fromstring(data)
    assert root.tag == f"{{{NS_SUBSCRIPTION}}}AbonnementAanvraag"
    assert root.findtext("BerichtLeverancier/OIN") == OIN
    assert root.findtext("VerzoekId") == REQUEST_ID


def test_changes_request_has_the_shape_of_the_official_example():
    since = datetime(2026, 3, 1, 23, 30, 5, 250000, tzinfo=timezone(timedelta(hours=1)))
    data = build_subscription_request(OIN, REQUEST_ID, since=since)
    assert shape(data) == shape(example("Mutatie"))

    written = etree.fromstring(data).findtext("MutatieDatum")
    assert written == "2026-03-01T22:30:05.250Z"
    official = etree.fromstring(example("Mutatie")).findtext("MutatieDatum")
    same_format = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
    assert same_format.fullmatch(written) and same_format.fullmatch(official)


def test_bsn_list_request_has_the_shape_of_the_official_example():
    data = build_subscription_request(OIN, REQUEST_ID, bsns=BSNS)
    assert shape(data) == shape(example("BSNLijst"))  # the example lists five BSNs
    assert [e.text for e in etree.fromstring(data).iter("BSN")] == BSNS


def test_children_are_unqualified():
    root = etree.fromstring(build_subscription_request(OIN, REQUEST_ID, bsns=BSNS[:1]))
    assert all(e.tag.startswith("{") is False for e in root.iterdescendants())


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"since": datetime(2026, 1, 1, tzinfo=UTC), "bsns": BSNS}, "not both"),
        ({"bsns": []}, "empty BSN list"),
        ({"since": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_request_refusals(kwargs, reason):
    with pytest.raises(ValueError, match=reason):
        build_subscription_request(OIN, REQUEST_ID, **kwargs)


def test_request_refuses_a_bad_oin_or_request_id():
    with pytest.raises(ValueError, match="20 digits"):
        build_subscription_request("123", REQUEST_ID)
    with pytest.raises(ValueError, match="VerzoekId"):
        build_subscription_request(OIN, " ")


def test_invalid_bsn_in_list_is_named_by_position_and_masked():
    with pytest.raises(ValueError) as caught:
        build_subscription_request(OIN, REQUEST_ID, bsns=[BSNS[0], "123456789"])
    assert "BSN 2 (******789)" in str(caught.value)
    assert "123456789" not in str(caught.value)


# --------------------------------------------------------------------------- answer


def answer_xml(entries: list[str], *, request_id: str = REQUEST_ID) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ns0:AbonnementAntwoord xmlns:ns0="{NS_SUBSCRIPTION}">'
        f"<VerzoekId>{request_id}</VerzoekId>"
        "<PeilDatum>2026-03-02T04:00:00Z</PeilDatum>"
        f"<Abonnementen>{''.join(entries)}</Abonnementen>"
        "</ns0:AbonnementAntwoord>"
    ).encode()


def entry(number: str, status: str = "Actief", begin: str = "2020-01-01", end: str | None = None):
    end_element = f"<DatumEinde>{end}</DatumEinde>" if end is not None else ""
    return (
        f"<Abonnement><BSN>{number}</BSN><Status>{status}</Status>"
        f"<DatumIngang>{begin}</DatumIngang>{end_element}</Abonnement>"
    )


SAMPLE = answer_xml(
    [
        entry(BSNS[0]),
        entry(BSNS[1], "Beeindigd", "2019-05-01", "2025-12-31"),
        entry(BSNS[2], "Beëindigd", "2021-02-03+01:00", "2024-01-01Z"),
        entry(BSNS[3], begin="2022-07-08", end=""),
    ]
)
EXPECTED = [
    (BSNS[0], "active", date(2020, 1, 1), None),
    (BSNS[1], "ended", date(2019, 5, 1), date(2025, 12, 31)),
    (BSNS[2], "ended", date(2021, 2, 3), date(2024, 1, 1)),
    (BSNS[3], "active", date(2022, 7, 8), None),
]


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_answer_is_read_plain_or_gzip(compress):
    data = gzip.compress(SAMPLE) if compress else SAMPLE
    header, entries = iter_subscription_answer(io.BytesIO(data))

    assert header == AnswerHeader(REQUEST_ID, datetime(2026, 3, 2, 4, 0, tzinfo=UTC))
    found = list(entries)
    assert found == EXPECTED
    assert all(isinstance(e, SubscriptionEntry) for e in found)
    assert found[1].status is SubscriptionStatus.ENDED


def test_entry_repr_masks_the_bsn():
    _, entries = iter_subscription_answer(io.BytesIO(SAMPLE))
    first = next(entries)
    assert BSNS[0] not in repr(first)
    assert "******" + BSNS[0][-3:] in repr(first)


def test_answer_without_entries():
    header, entries = iter_subscription_answer(io.BytesIO(answer_xml([])))
    assert header.request_id == REQUEST_ID
    assert list(entries) == []


def test_qualified_children_are_read_the_same():
    qualified = re.sub(rb"<(/?)(?=[A-Za-z])(?!ns0:)", rb"<\1ns0:", SAMPLE)
    assert b"<ns0:BSN>" in qualified
    header, entries = iter_subscription_answer(io.BytesIO(qualified))
    assert header.request_id == REQUEST_ID
    assert list(entries) == EXPECTED


def test_unknown_status_stops_the_refresh_with_a_masked_bsn():
    data = answer_xml([entry(BSNS[0]), entry(BSNS[1], status="Opgeschort")])
    _, entries = iter_subscription_answer(io.BytesIO(data))
    with pytest.raises(
        SubscriptionAnswerError, match="entry 2 .*unknown Status 'Opgeschort'"
    ) as caught:
        list(entries)
    assert BSNS[1] not in str(caught.value)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (entry("12345678"), "BSN \\*\\*\\*\\*\\*678 is not 9 digits"),
        (entry(BSNS[0], begin="01-01-2020"), "DatumIngang missing or a date"),
        (
            "<Abonnement><BSN>" + BSNS[0] + "</BSN><Status>Actief</Status></Abonnement>",
            "DatumIngang",
        ),
    ],
)
def test_broken_entries_are_refused(bad, reason):
    _, entries = iter_subscription_answer(io.BytesIO(answer_xml([bad])))
    with pytest.raises(SubscriptionAnswerError, match=reason):
        list(entries)


def test_wrong_root_or_missing_request_id_is_refused():
    wrong = SAMPLE.replace(b"AbonnementAntwoord", b"AbonnementAanvraag")
    with pytest.raises(SubscriptionAnswerError, match="expected root AbonnementAntwoord"):
        iter_subscription_answer(io.BytesIO(wrong))
    no_id = answer_xml([entry(BSNS[0])]).replace(
        f"<VerzoekId>{REQUEST_ID}</VerzoekId>".encode(), b""
    )
    with pytest.raises(SubscriptionAnswerError, match="no VerzoekId"):
        iter_subscription_answer(io.BytesIO(no_id))


def test_truncated_gzip_fails_while_iterating():
    body = answer_xml([entry(BSNS[i % 5]) for i in range(5000)])
    data = gzip.compress(body)
    header, entries = iter_subscription_answer(io.BytesIO(data[: len(data) // 2]))
    assert header.request_id == REQUEST_ID
    with pytest.raises(SubscriptionAnswerError, match="breaks off after entry"):
        list(entries)


def test_not_xml_is_refused():
    with pytest.raises(SubscriptionAnswerError, match="not readable"):
        iter_subscription_answer(io.BytesIO(b"this is not xml"))


def test_entities_are_not_expanded():
    data = (
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY bsn "'
        + BSNS[0].encode()
        + b'">]>'
        + answer_xml([entry("&bsn;")]).split(b"?>", 1)[1]
    )
    _, entries = iter_subscription_answer(io.BytesIO(data))
    with pytest.raises(SubscriptionAnswerError, match="is not 9 digits"):
        list(entries)


# --------------------------------------------------------------------------- coordination


def project_schema(name: str) -> etree.XMLSchema:
    path = schemas.schema_path(f"subscription/{name}")
    assert path.is_file(), f"BBX's own schema {path} is missing"
    return etree.XMLSchema(etree.parse(str(path)))


def test_requests_validate_against_bbx_request_schema():
    schema = project_schema("AbonnementAanvraag.xsd")
    for kwargs in ({}, {"since": datetime(2026, 1, 1, tzinfo=UTC)}, {"bsns": BSNS}):
        data = build_subscription_request(OIN, REQUEST_ID, **kwargs)
        assert schema.validate(etree.fromstring(data)), schema.error_log


def test_parser_sample_is_valid_under_bbx_answer_schema():
    """The parser's assumption and the schema the simulator writes are the same shape."""
    schema = project_schema("AbonnementAntwoord.xsd")
    canonical = answer_xml(
        [entry(BSNS[0]), entry(BSNS[1], "Beeindigd", "2019-05-01", "2025-12-31")]
    )
    assert schema.validate(etree.fromstring(canonical)), schema.error_log
    assert list(iter_subscription_answer(io.BytesIO(canonical))[1]) == EXPECTED[:2]


# --------------------------------------------------------------------------- volume


class _GeneratedAnswer(io.RawIOBase):
    """A large answer produced on the fly, so the test itself holds no big document."""

    def __init__(self, count: int) -> None:
        pool = list(bsn.generate(1000, seed=5))

        def pieces():
            yield answer_xml([]).split(b"<Abonnementen>")[0] + b"<Abonnementen>"
            numbers = itertools.islice(itertools.cycle(pool), count)
            while chunk := list(itertools.islice(numbers, 1000)):
                yield "".join(entry(n, end="2030-01-01") for n in chunk).encode()
            yield b"</Abonnementen></ns0:AbonnementAntwoord>"

        self._pieces = pieces()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            self._pending = next(self._pieces, b"")
            if not self._pending:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_large_answer_streams_in_flat_memory():
    count = 150_000  # ~20 MB of XML; a parser keeping the tree would grow by far more
    header, entries = iter_subscription_answer(io.BufferedReader(_GeneratedAnswer(count)))
    before = _rss_bytes()
    seen = 0
    for seen, item in enumerate(entries, 1):
        if seen == 10_000:
            before = _rss_bytes()  # after warm-up: buffers and caches in place
        assert item.status is SubscriptionStatus.ACTIVE
    growth = _rss_bytes() - before

    assert header.request_id == REQUEST_ID
    assert seen == count
    assert growth < 8 * 1024 * 1024, f"memory grew by {growth / 2**20:.1f} MB"
