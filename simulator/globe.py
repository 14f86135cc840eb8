"""Delivery batches (``GLOBE-R-BV-Request``) and their results (``GLOBE-R-BV-Result``).

Parsing is strict: the payload must validate against Logius's official
``GLOBEBatchRequest.xsd``, otherwise every message of the batch gets
``XmlValidatieTegenXsdValtNegatiefUit``. Then each message gets exactly one
``VerwerkingsCode``, checked in this order (first hit wins):

1. ``OinInCPAKomtNietOvereenMetOinInBericht`` — BerichtLeverancierID ≠ the CPA's OIN (batch)
2. ``AanmaakDatumLigtTeVerInHetVerleden`` — AanmaakDatum more than 13 days back (batch)
3. ``BerichtTypeNietOndersteund`` — message type not registered for this sender
4. ``PublicatieDatumLigtTeVerInDeToekomst`` — PublicatieDatum more than 13 days ahead
5. ``BijlageTeGroot`` — attachments together above 500 kB (before base64)
6. ``TechnischProbleem`` — only when fault injection asks for it; NOT delivered
7. ``BerichtBestaatAl`` — this BerichtID is already in a citizen's box
8. ``NietActiefOfGeabonneerd`` — the BSN is not subscribed to this sender today
9. ``Verwerkt`` — delivered: now in the citizen's box

The result's counters count exactly their own code; codes without a counter
(BerichtBestaatAl, BijlageTeGroot, OinIn…, XmlValidatie…) only add to the total.
So ``TotaalAantalOntvangenBerichten`` = number of messages received = sum over codes.

The result is written in one of two dialects (``config.RESULT_DIALECTS``):

* ``documented`` — as the official GLOBEBatchResponse.xsd describes it: root
  ``BerichtVerwerkResponse`` in ``…/BerichtVerwerkService/Types/2009/01``, each ``Bericht``
  in ``…/BerichtResultaat/Types/2009/01``, children unqualified, times with the Dutch
  offset, ``VerwerkingsCode`` one of the XSD's names. Validates against the XSD.
* ``live`` — as seen from a live ebms-core deployment (interface.md §3): the same
  namespaces (prefixes ``ns3``/``ns2``), times in UTC ending in ``Z``, and
  ``VerwerkingsCode`` ``00`` for a message counted in ``AantalBerichtenSuccesvolVerwerkt``
  (other codes unchanged). ``00`` is not in the XSD's enumeration, so a live result with
  a processed message does NOT validate against the official XSD.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from lxml import etree

from simulator import logius
from simulator.clock import TZ, xml_datetime
from simulator.schemas import SchemaPool, secure_parser

NS_BATCH = "http://schemas.rdw.nl/GEB/BerichtVerwerkService/Types/2009/01"
NS_BERICHT = "http://schemas.rdw.nl/GEB/BerichtenProsessor/Bericht/Types/2009/01"
NS_RESULT = "http://schemas.rdw.nl/GEB/BerichtVerwerkService/BerichtResultaat/Types/2009/01"

VERWERKT = "Verwerkt"
TECHNISCH_PROBLEEM = "TechnischProbleem"
NIET_ACTIEF = "NietActiefOfGeabonneerd"
BERICHTTYPE_NIET_ONDERSTEUND = "BerichtTypeNietOndersteund"
PUBLICATIEDATUM_TE_VER = "PublicatieDatumLigtTeVerInDeToekomst"
AANMAAKDATUM_TE_VER = "AanmaakDatumLigtTeVerInHetVerleden"
BESTAAT_AL = "BerichtBestaatAl"
BIJLAGE_TE_GROOT = "BijlageTeGroot"
OIN_MISMATCH = "OinInCPAKomtNietOvereenMetOinInBericht"
XSD_INVALID = "XmlValidatieTegenXsdValtNegatiefUit"
ALL_CODES = (
    VERWERKT,
    TECHNISCH_PROBLEEM,
    NIET_ACTIEF,
    BERICHTTYPE_NIET_ONDERSTEUND,
    PUBLICATIEDATUM_TE_VER,
    AANMAAKDATUM_TE_VER,
    BESTAAT_AL,
    BIJLAGE_TE_GROOT,
    OIN_MISMATCH,
    XSD_INVALID,
)

# The result's counters and the one code each counts.
COUNTERS = (
    ("AantalBerichtenSuccesvolVerwerkt", VERWERKT),
    ("AantalBerichtenGeenActieveBoxOfGeabonneertOpLeverancier", NIET_ACTIEF),
    ("AantalBerichtenMetTechnischProbleem", TECHNISCH_PROBLEEM),
    ("AantalBerichtenBerichtTypeNietCorrect", BERICHTTYPE_NIET_ONDERSTEUND),
    ("AantalBerichtenPublicatieDatumNietCorrect", PUBLICATIEDATUM_TE_VER),
    ("AantalBerichtenAanmaakDatumNietCorrect", AANMAAKDATUM_TE_VER),
)
LIVE_PROCESSED_CODE = "00"  # the live dialect's VerwerkingsCode for Verwerkt
STADIUM_OK = "NA"
STADIUM_TECHNICAL = "Verwerken"  # where the (injected) technical problem happened
NIL_GUID = "00000000-0000-0000-0000-000000000000"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_FRACTION = re.compile(r"(\.\d{6})\d+")
_MAX_PUBLICATION = timedelta(days=logius.MAX_PUBLICATION_DAYS_AHEAD)
_MAX_CREATION = timedelta(days=logius.MAX_CREATION_DAYS_BACK)

_T_BATCH_INFO = f"{{{NS_BATCH}}}BatchInformatie"
_T_BATCH_ID = f"{{{NS_BATCH}}}BatchID"
_T_AANMAAK = f"{{{NS_BATCH}}}AanmaakDatum"
_T_LEVERANCIER = f"{{{NS_BATCH}}}BerichtLeverancierID"
_B = f"{{{NS_BERICHT}}}"
_T_BERICHT = _B + "Bericht"
_T_BIJLAGEN = _B + "Bijlagen"
_FIELDS = {
    _B + "BerichtID": "bericht_id",
    _B + "BerichtType": "bericht_type",
    _B + "PublicatieDatum": "publicatie",
    _B + "Onderwerp": "onderwerp",
    _B + "GebruikerID": "bsn",
}


@dataclass(slots=True)
class Bericht:
    """What the simulator needs of one message."""

    bericht_id: str = ""
    bericht_type: str = ""
    bsn: str = ""
    onderwerp: str = ""
    publicatie: str | None = None
    attachment_bytes: int = 0


@dataclass
class Batch:
    batch_id: str
    aanmaak: str
    leverancier: str
    berichten: list[Bericht]
    errors: list[str] = field(default_factory=list)  # XSD errors: the batch is invalid

    @property
    def valid(self) -> bool:
        return not self.errors


def parse_xs_datetime(text: str | None) -> datetime | None:
    """An xs:dateTime as an aware datetime (no offset = Dutch time); None if unusable."""
    if not text:
        return None
    text = _FRACTION.sub(r"\1", text.strip())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=TZ)


def _base64_size(text: str | None) -> int:
    """Decoded size of base64 text, without decoding it."""
    if not text:
        return 0
    compact = "".join(text.split())
    padding = compact[-2:].count("=")
    return len(compact) * 3 // 4 - padding


def unpack_payload(content: bytes) -> bytes:
    """The XML of a data source (gunzipped when it was sent gzip-compressed; broken
    gzip is returned as is, and then fails as XML)."""
    if content[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(content)
        except (OSError, EOFError, zlib.error):
            return content
    return content


def parse_batch(payload: bytes, schema: SchemaPool) -> Batch:
    """Parse and validate a batch; on failure, return what ids could be found."""
    try:
        root = etree.fromstring(payload, secure_parser(huge=True))
    except etree.XMLSyntaxError as exc:
        return Batch(NIL_GUID, "", "", [], errors=[f"not well-formed XML: {exc}"])
    errors = schema.errors(root)
    if errors:
        return _salvage(root, errors)
    info = root[0]
    batch = Batch(
        batch_id=info.findtext(_T_BATCH_ID),
        aanmaak=info.findtext(_T_AANMAAK),
        leverancier=info.findtext(_T_LEVERANCIER),
        berichten=[],
    )
    append = batch.berichten.append
    fields = _FIELDS
    for element in root.iterchildren(_T_BERICHT):
        bericht = Bericht()
        for child in element[0]:
            name = fields.get(child.tag)
            if name is not None:
                setattr(bericht, name, child.text or "")
        if len(element) > 1:  # Bijlagen
            bericht.attachment_bytes = sum(_base64_size(b[0].text) for b in element[1])
        append(bericht)
    return batch


def _salvage(root: etree._Element, errors: list[str]) -> Batch:
    """An invalid batch: keep the BatchID and BerichtIDs that look like GUIDs, so the
    result can still name them (the result schema only allows GUIDs)."""
    batch_id = next(
        (t for t in root.xpath("//*[local-name()='BatchID']/text()") if _GUID.match(t)), NIL_GUID
    )
    leverancier = next(iter(root.xpath("//*[local-name()='BerichtLeverancierID']/text()")), "")
    berichten = []
    for element in root.xpath("/*/*[local-name()='Bericht']"):
        bericht = Bericht(
            bericht_id=next(iter(element.xpath(".//*[local-name()='BerichtID']/text()")), ""),
            bericht_type=next(iter(element.xpath(".//*[local-name()='BerichtType']/text()")), ""),
        )
        berichten.append(bericht)
    return Batch(batch_id, "", leverancier, berichten, errors=errors)


def batch_level_code(batch: Batch, cpa_oin: str, now: datetime) -> str | None:
    """The code that applies to all messages of the batch, if any."""
    if not batch.valid:
        return XSD_INVALID
    if batch.leverancier != cpa_oin:
        return OIN_MISMATCH
    aanmaak = parse_xs_datetime(batch.aanmaak)
    if aanmaak is None or now - aanmaak > _MAX_CREATION:
        return AANMAAKDATUM_TE_VER
    return None


def message_code(
    bericht: Bericht,
    *,
    message_types: frozenset[str],
    now: datetime,
    technisch: Callable[[], bool] | None,
    delivered: Callable[[str], bool],
    subscribed: Callable[[str], bool],
) -> str:
    """The VerwerkingsCode of one message of a valid batch (checks 3-9 of the module doc)."""
    if bericht.bericht_type not in message_types:
        return BERICHTTYPE_NIET_ONDERSTEUND
    if bericht.publicatie:
        publicatie = parse_xs_datetime(bericht.publicatie)
        if publicatie is None or publicatie - now > _MAX_PUBLICATION:
            return PUBLICATIEDATUM_TE_VER
    if bericht.attachment_bytes > logius.MAX_ATTACHMENT_BYTES_PER_MESSAGE:
        return BIJLAGE_TE_GROOT
    if technisch is not None and technisch():
        return TECHNISCH_PROBLEEM
    if delivered(bericht.bericht_id):
        return BESTAAT_AL
    if not subscribed(bericht.bsn):
        return NIET_ACTIEF
    return VERWERKT


def count_codes(codes: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(ALL_CODES, 0)
    for code in codes:
        counts[code] += 1
    return counts


def build_result(
    batch: Batch,
    codes: list[str],
    *,
    leverancier_code: str,
    received: datetime,
    processed: datetime,
    dialect: str = "documented",
) -> bytes:
    """The ``BerichtVerwerkResponse`` for a batch, in ``dialect`` (see the module doc)."""
    live = dialect == "live"
    if not live and dialect != "documented":
        raise ValueError(f"unknown result dialect {dialect!r}")
    counts = count_codes(codes)
    root, bericht_tag = ("ns3", "ns2") if live else ("ns0", "ns1")
    stamp = _zulu if live else xml_datetime
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}:BerichtVerwerkResponse xmlns:{root}="{NS_BATCH}"'
        f' xmlns:{bericht_tag}="{NS_RESULT}"><BatchInformatie>'
        f"<BerichtLeverancierCode>{escape(leverancier_code)}</BerichtLeverancierCode>"
        f"<BatchID>{batch.batch_id if _GUID.match(batch.batch_id or '') else NIL_GUID}</BatchID>"
        f"<TotaalAantalOntvangenBerichten>{len(codes)}</TotaalAantalOntvangenBerichten>"
    ]
    for element, code in COUNTERS:
        parts.append(f"<{element}>{counts[code]}</{element}>")
    parts.append(
        f"<DatumOntvangen>{stamp(received)}</DatumOntvangen>"
        f"<DatumVerwerkt>{stamp(processed)}</DatumVerwerkt></BatchInformatie><Berichten>"
    )
    for bericht, code in zip(batch.berichten, codes, strict=True):
        if not _GUID.match(bericht.bericht_id):
            continue  # only possible for an invalid batch; the schema demands a GUID
        stadium = STADIUM_TECHNICAL if code == TECHNISCH_PROBLEEM else STADIUM_OK
        written = LIVE_PROCESSED_CODE if live and code == VERWERKT else code
        parts.append(
            f"<{bericht_tag}:Bericht><BerichtID>{bericht.bericht_id}</BerichtID>"
            f"<BerichtType>{escape(bericht.bericht_type)}</BerichtType>"
            f"<VerwerkingsCode>{written}</VerwerkingsCode>"
            f"<Stadium>{stadium}</Stadium></{bericht_tag}:Bericht>"
        )
    parts.append(f"</Berichten></{root}:BerichtVerwerkResponse>")
    return "".join(parts).encode("utf-8")


def _zulu(moment: datetime) -> str:
    """An xs:dateTime in UTC ending in ``Z`` (the live dialect)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
