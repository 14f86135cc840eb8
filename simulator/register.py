"""Subscription requests (``GLOBE-R-A-Request``) and their gzip answers.

The request is checked against BBX's ``AbonnementAanvraag.xsd`` (written from Logius's
three examples). The answer has the *assumed* shape of ``AbonnementAntwoord.xsd``
(interface.md §4) and is written streamingly into gzip: a million subscribers never
become a million Python objects.

Business rule: the request's ``BerichtLeverancier/OIN`` must be the OIN of the CPA it
came through. Logius's examples carry the placeholder "OIN Nummer"; such a request is
accepted by the ebMS layer (sendMessage returns a messageId) but gets **no answer**:
the simulator records it as rejected (admin ``/admin/register-requests``) and the sent
message's ebMS status becomes ``DELIVERY_FAILED``. An empty answer would be worse: a
register refresh could read it as "everybody signed off".
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from xml.sax.saxutils import escape

from lxml import etree

from simulator.clock import TZ, xml_datetime
from simulator.globe import parse_xs_datetime
from simulator.population import NO_END, Population
from simulator.schemas import SchemaPool, secure_parser

NS = "http://schemas.overheid.nl/GEB/AbonnementServiceProcessor/2014/02"
ANSWER_NAME = "AbonnementAntwoord.xml.gz"
ANSWER_CONTENT_TYPE = "application/gzip"

FULL = "volledig"
CHANGES = "mutaties"
BSN_LIST = "bsnlijst"


class RegisterRequestRejected(Exception):
    """A request MijnOverheid does not answer; the message says why."""


@dataclass(frozen=True)
class RegisterRequest:
    oin: str
    verzoek_id: str
    kind: str  # FULL, CHANGES or BSN_LIST
    since: datetime | None = None
    bsns: tuple[str, ...] = ()


def parse_request(payload: bytes, schema: SchemaPool) -> RegisterRequest:
    """Parse and validate an ``AbonnementAanvraag`` (raises RegisterRequestRejected)."""
    try:
        root = etree.fromstring(payload, secure_parser(huge=True))
    except etree.XMLSyntaxError as exc:
        raise RegisterRequestRejected(f"not well-formed XML: {exc}") from None
    errors = schema.errors(root)
    if errors:
        raise RegisterRequestRejected("AbonnementAanvraag.xsd: " + "; ".join(errors))
    oin = root.findtext("BerichtLeverancier/OIN")
    verzoek_id = root.findtext("VerzoekId")
    mutatie = root.findtext("MutatieDatum")
    if mutatie is not None:
        since = parse_xs_datetime(mutatie)
        if since is None:
            raise RegisterRequestRejected(f"MutatieDatum {mutatie!r} cannot be read")
        return RegisterRequest(oin, verzoek_id, CHANGES, since=since)
    lijst = root.find("BSNLijst")
    if lijst is not None:
        return RegisterRequest(oin, verzoek_id, BSN_LIST, bsns=tuple(b.text or "" for b in lijst))
    return RegisterRequest(oin, verzoek_id, FULL)


_date_cache: dict[int, str] = {}


def _iso(ordinal: int) -> str:
    text = _date_cache.get(ordinal)
    if text is None:
        text = _date_cache[ordinal] = date.fromordinal(ordinal).isoformat()
    return text


def answer_entries(
    request: RegisterRequest, population: Population, today: date
) -> Iterator[tuple[str, int, int]]:
    """(bsn, start, end) of every subscription the answer must hold, as known today
    (end ``NO_END``: still subscribed)."""
    if request.kind == FULL:
        return population.active_on(today)
    if request.kind == CHANGES:
        assert request.since is not None
        return population.changes(request.since.astimezone(TZ).date(), today)
    return _listed(request.bsns, population, today)


def _listed(
    bsns: tuple[str, ...], population: Population, today: date
) -> Iterator[tuple[str, int, int]]:
    seen: set[str] = set()
    for bsn in bsns:
        if bsn in seen:
            continue
        seen.add(bsn)
        found = population.state(bsn, today)
        if found is not None:
            yield bsn, found[0], found[1]


def write_answer(
    out: io.RawIOBase | io.BufferedIOBase,
    verzoek_id: str,
    peildatum: datetime,
    entries: Iterable[tuple[str, int, int]],
    compresslevel: int = 6,
) -> int:
    """Stream an ``AbonnementAntwoord`` as gzip into ``out``; returns the entry count."""
    count = 0
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=compresslevel, mtime=0) as gz:
        gz.write(
            (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<ns0:AbonnementAntwoord xmlns:ns0="{NS}">'
                f"<VerzoekId>{escape(verzoek_id)}</VerzoekId>"
                f"<PeilDatum>{xml_datetime(peildatum)}</PeilDatum><Abonnementen>"
            ).encode()
        )
        chunk: list[str] = []
        for bsn, signup, signoff in entries:
            if signoff == NO_END:
                chunk.append(
                    f"<Abonnement><BSN>{bsn}</BSN><Status>Actief</Status>"
                    f"<DatumIngang>{_iso(signup)}</DatumIngang></Abonnement>"
                )
            else:
                chunk.append(
                    f"<Abonnement><BSN>{bsn}</BSN><Status>Beeindigd</Status>"
                    f"<DatumIngang>{_iso(signup)}</DatumIngang>"
                    f"<DatumEinde>{_iso(signoff)}</DatumEinde></Abonnement>"
                )
            count += 1
            if len(chunk) >= 20_000:
                gz.write("".join(chunk).encode("ascii"))
                chunk.clear()
        gz.write(("".join(chunk) + "</Abonnementen></ns0:AbonnementAntwoord>").encode("ascii"))
    return count


def build_answer(
    request: RegisterRequest, population: Population, now: datetime
) -> tuple[bytes, int]:
    """The gzip-compressed answer to ``request`` and the number of entries in it."""
    buffer = io.BytesIO()
    count = write_answer(
        buffer, request.verzoek_id, now, answer_entries(request, population, now.date())
    )
    return buffer.getvalue(), count
