"""The register's source: the subscription request ``GLOBE-R-A-Request`` and its answer.

Request (interface.md §4, fixed by Logius's three examples): root ``AbonnementAanvraag``
in the AbonnementServiceProcessor namespace, unqualified children
``BerichtLeverancier/OIN``, ``VerzoekId`` and then nothing (the full list),
``MutatieDatum`` (changes since) or ``BSNLijst/BSN*`` (these BSNs only).

Answer — **assumption**, kept in this one parser (its schema is not public; the
simulator's ``include/schemas/subscription/AbonnementAntwoord.xsd`` describes the same
shape): root ``AbonnementAntwoord`` in the same namespace, unqualified children
``VerzoekId``, ``PeilDatum`` (dateTime of the snapshot), ``Abonnementen/Abonnement*``
{``BSN``, ``Status`` (``Actief`` | ``Beeindigd``), ``DatumIngang`` (date),
``DatumEinde``? (date)}; gzip-compressed or not. Element names are matched without
regard to namespace, so a qualified variant reads the same.

The answer can hold a million entries: :func:`iter_subscription_answer` streams it with
``iterparse`` and discards each entry once read, so memory stays flat. Applying the
entries to the register is done in SQL by the store, not here.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import BinaryIO, NamedTuple

from lxml import etree

from bbx.domain import bsn as bsn_rules
from bbx.domain.limits import OIN_DIGITS
from bbx.domain.xmltime import format_utc, parse_date, parse_datetime

NS_SUBSCRIPTION = "http://schemas.overheid.nl/GEB/AbonnementServiceProcessor/2014/02"
REQUEST_ROOT = "AbonnementAanvraag"
ANSWER_ROOT = "AbonnementAntwoord"


class SubscriptionAnswerError(ValueError):
    """The subscription answer cannot be read; nothing from it should be applied."""


# Broken XML, a broken gzip stream (BadGzipFile is an OSError) or a truncated one.
_UNREADABLE = (etree.XMLSyntaxError, OSError, EOFError, zlib.error)


# --------------------------------------------------------------------------- request


def build_subscription_request(
    oin: str,
    request_id: str,
    *,
    since: datetime | None = None,
    bsns: Sequence[str] | None = None,
) -> bytes:
    """The ``AbonnementAanvraag`` payload: the full list (neither ``since`` nor
    ``bsns``), the changes since ``since`` (timezone-aware; written in UTC with ``Z``),
    or the given ``bsns`` only."""
    if not (len(oin) == OIN_DIGITS and oin.isascii() and oin.isdigit()):
        raise ValueError(f"an OIN has {OIN_DIGITS} digits, got {oin!r}")
    if not request_id or not request_id.strip():
        raise ValueError("a subscription request needs a VerzoekId")
    if since is not None and bsns is not None:
        raise ValueError("ask either for changes since a moment or for a list of BSNs, not both")
    if bsns is not None:
        if not bsns:
            raise ValueError("an empty BSN list asks for nothing; pass bsns=None for the full list")
        for position, value in enumerate(bsns, 1):
            if not bsn_rules.passes_eleven_test(value):
                raise ValueError(
                    f"BSN {position} ({bsn_rules.mask(value)}) is not a valid BSN "
                    "(9 digits passing the 11-test)"
                )

    root = etree.Element(f"{{{NS_SUBSCRIPTION}}}{REQUEST_ROOT}", nsmap={"ns0": NS_SUBSCRIPTION})
    supplier = etree.SubElement(root, "BerichtLeverancier")
    etree.SubElement(supplier, "OIN").text = oin
    etree.SubElement(root, "VerzoekId").text = request_id.strip()
    if since is not None:
        etree.SubElement(root, "MutatieDatum").text = format_utc(since)
    elif bsns is not None:
        bsn_list = etree.SubElement(root, "BSNLijst")
        for value in bsns:
            etree.SubElement(bsn_list, "BSN").text = value
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)


# --------------------------------------------------------------------------- answer


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"  # Actief
    ENDED = "ended"  # Beeindigd


_STATUSES = {  # by lower case
    "actief": SubscriptionStatus.ACTIVE,
    "beeindigd": SubscriptionStatus.ENDED,
    "beëindigd": SubscriptionStatus.ENDED,
}
_EXACT_STATUSES = {"Actief": SubscriptionStatus.ACTIVE, "Beeindigd": SubscriptionStatus.ENDED}  # as written


class SubscriptionEntry(NamedTuple):
    """One ``Abonnement``: a tuple ``(bsn, status, begin_date, end_date)``."""

    bsn: str
    status: SubscriptionStatus
    begin_date: date
    end_date: date | None

    def __repr__(self) -> str:  # keep full BSNs out of logs and tracebacks
        return (
            f"SubscriptionEntry(bsn={bsn_rules.mask(self.bsn)!r}, status={self.status.value!r}, "
            f"begin_date={self.begin_date!r}, end_date={self.end_date!r})"
        )


@dataclass(frozen=True, slots=True)
class AnswerHeader:
    request_id: str  # VerzoekId: the request this answers
    snapshot_at: datetime | None  # PeilDatum: the moment the list describes


class _Rejoined:
    """A read-only stream: ``head`` (already read to sniff the format), then ``rest``."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


def _open(fileobj: BinaryIO):
    head = fileobj.read(2)
    stream = _Rejoined(head, fileobj)
    if head == b"\x1f\x8b":  # gzip magic: the answer travels compressed
        return gzip.GzipFile(fileobj=stream, mode="rb")
    return stream


def _localname(element: etree._Element) -> str:
    return element.tag.rpartition("}")[2]


def _discard(element: etree._Element) -> None:
    """Free an element already read, and its earlier siblings: keeps memory flat."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _fields(element: etree._Element) -> dict[str, str]:
    """The values of one ``Abonnement`` by element name; the element is then discarded.
    (The first entry, read with the header; :func:`_entries` reads the rest inline.)"""
    fields = {}
    for child in element:
        tag = child.tag
        if tag[0] == "{":
            tag = tag.rpartition("}")[2]
        text = child.text
        fields[tag] = text.strip() if text else ""
    _discard(element)
    return fields


# A full list repeats a few thousand distinct dates a million times.
_parse_date = lru_cache(maxsize=16_384)(parse_date)


def _entry(fields: dict[str, str], position: int) -> SubscriptionEntry:
    value = fields.get("BSN", "")
    if not (len(value) == 9 and value.isascii() and value.isdigit()):
        raise SubscriptionAnswerError(
            f"entry {position}: BSN {bsn_rules.mask(value)} is not 9 digits"
        )
    status = _STATUSES.get(fields.get("Status", "").lower())
    if status is None:
        raise SubscriptionAnswerError(
            f"entry {position} ({bsn_rules.mask(value)}): unknown Status "
            f"{fields.get('Status', '')!r}; expected Actief or Beeindigd"
        )
    try:
        begin = _parse_date(fields["DatumIngang"])
        end_text = fields.get("DatumEinde")
        end = _parse_date(end_text) if end_text else None
    except (KeyError, ValueError):
        raise SubscriptionAnswerError(
            f"entry {position} ({bsn_rules.mask(value)}): DatumIngang missing or a date "
            "not in the form YYYY-MM-DD"
        ) from None
    return SubscriptionEntry(value, status, begin, end)


def iter_subscription_answer(
    fileobj: BinaryIO,
) -> tuple[AnswerHeader, Iterator[SubscriptionEntry]]:
    """Read the header of a subscription answer and return it with an iterator over
    its entries, in document order.

    ``fileobj`` is a binary file object, gzip-compressed or plain; it must stay open
    until the iterator is exhausted. Any error (here or while iterating) raises
    :class:`SubscriptionAnswerError`: a register refresh should then apply nothing.
    Safe parsing: no entity expansion, no DTD, no network.
    """
    events = etree.iterparse(
        _open(fileobj),
        events=("end",),
        tag=("{*}VerzoekId", "{*}PeilDatum", "{*}Abonnement"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )
    header: dict[str, str] = {}
    first: dict[str, str] | None = None  # read with the header, checked when iterated
    try:
        for _, element in events:
            if not header and first is None:
                root = element.getroottree().getroot()
                if _localname(root) != ANSWER_ROOT:
                    raise SubscriptionAnswerError(
                        f"expected root {ANSWER_ROOT}, found {_localname(root)!r}"
                    )
            name = _localname(element)
            if name == "Abonnement":
                first = _fields(element)
                break
            if element.getparent() is not None and element.getparent().getparent() is None:
                header[name] = (element.text or "").strip()
    except _UNREADABLE as exc:
        raise SubscriptionAnswerError(f"subscription answer is not readable: {exc}") from None
    if not header.get("VerzoekId"):
        raise SubscriptionAnswerError(
            f"subscription answer has no VerzoekId before its entries (is it an {ANSWER_ROOT}?)"
        )
    result = AnswerHeader(
        request_id=header["VerzoekId"],
        snapshot_at=parse_datetime(header.get("PeilDatum")),
    )
    return result, _entries(events, first)


def _entries(events, first: dict[str, str] | None) -> Iterator[SubscriptionEntry]:
    if first is None:
        return
    yield _entry(first, 1)
    position = 1
    exact, parse, make = _EXACT_STATUSES, _parse_date, SubscriptionEntry._make
    # Once per entry of a million: one loop without helper calls for an entry as the
    # simulator and MijnOverheid write it; any other goes through _entry, the one place
    # of the checks and their texts (it takes it, or says what is wrong).
    try:
        for _, element in events:
            tag = element.tag
            if tag != "Abonnement" and tag.rpartition("}")[2] != "Abonnement":
                continue
            position += 1
            bsn = status = begin = end = None
            for child in element:
                tag = child.tag
                if tag[0] == "{":
                    tag = tag.rpartition("}")[2]
                text = child.text
                text = text.strip() if text else ""
                if tag == "BSN":
                    bsn = text
                elif tag == "Status":
                    status = text
                elif tag == "DatumIngang":
                    begin = text
                elif tag == "DatumEinde":
                    end = text
            _discard(element)
            kind = exact.get(status)
            if kind is not None and bsn and len(bsn) == 9 and bsn.isdigit() and bsn.isascii() and begin:
                try:
                    entry = make((bsn, kind, parse(begin), parse(end) if end else None))
                except ValueError:
                    entry = None
                if entry is not None:
                    yield entry
                    continue
            fields = {name: value for name, value in (("BSN", bsn), ("Status", status),
                                                      ("DatumIngang", begin), ("DatumEinde", end))
                      if value is not None}
            yield _entry(fields, position)
    except _UNREADABLE as exc:
        raise SubscriptionAnswerError(
            f"subscription answer breaks off after entry {position}: {exc}"
        ) from None
