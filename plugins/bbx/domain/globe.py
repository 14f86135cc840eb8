"""GLOBE delivery XML: building a ``GLOBE-R-BV-Request`` batch, parsing a ``GLOBE-R-BV-Result``.

Contract: ``shared/design/interface.md`` §2–3 and Logius's GLOBEBatchRequest/Response XSDs;
BBX's own (tighter) copies are ``include/schemas/globe/``.

Why string templates instead of lxml elements: a batch is built for every 1000 messages
of a million-message submission. Measured on one core, building 1000 standard-text
messages with ``etree.SubElement`` plus serialising costs about 15 ms; templates cost
under 2 ms, so building + parsing + validating stays well above 20,000 messages/s.
Correctness comes from three things: every value goes through :func:`_escape`
(``& < >`` and CR, and refusal of characters XML 1.0 cannot carry), the element order is
fixed here in one template, and every batch is validated against BBX's XSD before it
leaves (``build_batch(..., validate=True)``, the default).

CR is written as ``&#13;``: an XML parser turns a literal CR LF into LF, and MijnOverheid
asks for CR LF line breaks in ``BerichtTekst`` (see :func:`normalise_text`).

Personal data: a BSN or text never appears in an exception message (schema errors are
redacted, BSNs masked); the dataclasses keep BSN, text and PDF bytes out of ``repr``.

Over ~400 lines on purpose: building the request and parsing the result share the
schema's names, limits and text rules; split, each half would import the other.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from lxml import etree

from bbx import schemas
from bbx.domain import bsn as bsn_rules
from bbx.domain.limits import MAX_BATCH_BYTES, MAX_MESSAGES_PER_BATCH
from bbx.domain.xmltime import format_utc, parse_datetime

NS_BATCH = "http://schemas.rdw.nl/GEB/BerichtVerwerkService/Types/2009/01"
NS_MESSAGE = "http://schemas.rdw.nl/GEB/BerichtenProsessor/Bericht/Types/2009/01"
NS_RESULT_MESSAGE = "http://schemas.rdw.nl/GEB/BerichtVerwerkService/BerichtResultaat/Types/2009/01"

USER_KIND = "Burger"  # SoortGebruiker: BBX only writes to citizens
ATTACHMENT_KIND = "Pdf"  # BijlageType


class GlobeError(ValueError):
    """Base of every error this module raises."""


class MessageContentError(GlobeError):
    """One message cannot be written as XML (e.g. a control character in its text)."""

    def __init__(self, message_id: str, detail: str) -> None:
        super().__init__(f"message {message_id}: {detail}")
        self.message_id = message_id


class BatchValidationError(GlobeError):
    """A built batch does not validate against BBX's XSD.

    ``problems`` are schema errors with values redacted; ``message_ids`` are the
    BerichtIDs of the offending messages when they could be located.
    """

    def __init__(self, problems: Sequence[str], message_ids: Sequence[str] = ()) -> None:
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"batch does not validate against BBX's GLOBE schema: {shown}{more}")
        self.problems = tuple(problems)
        self.message_ids = tuple(message_ids)


class ResultParseError(GlobeError):
    """A GLOBE-R-BV-Result that cannot be read at all (not XML, wrong root, no ids)."""


# --------------------------------------------------------------------------- input


@dataclass(frozen=True, slots=True)
class Attachment:
    """One PDF as it goes into the batch (already composed: see ``attachments.py``)."""

    description: str  # Omschrijving, 1-128 characters, shown to the citizen
    pdf_bytes: bytes = field(repr=False)
    order: int  # Volgorde, 1 or 2


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    """One letter to one citizen, in domain terms; rendered as a ``Bericht``."""

    message_id: str  # BerichtID (UUID, bbx.domain.ids.message_id)
    message_type_code: str  # BerichtType, ≤ 8 characters
    subject: str  # Onderwerp, ≤ 50 characters
    bsn: str = field(repr=False)  # GebruikerID
    text: str | None = field(default=None, repr=False)  # BerichtTekst, ≤ 4000 after CR LF
    reference: str | None = None  # Referentie, ≤ 25 characters
    publication_date: datetime | None = None  # PublicatieDatum; None = publish at once
    action_deadline: datetime | None = None  # EindDatumHandelingsTermijn
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """``BatchInformatie`` of one batch."""

    batch_id: str  # BatchID (UUID, bbx.domain.ids.batch_id)
    created_at: datetime  # AanmaakDatum, timezone-aware
    supplier_id: str  # BerichtLeverancierID: the connection's OIN


# --------------------------------------------------------------------------- escaping

# Everything outside the XML 1.0 Char production.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def unsendable_character(value: str) -> str | None:
    """Why MijnOverheid cannot carry ``value`` (a character XML forbids), or None: the one
    rule for every channel, checked before anything is accepted."""
    bad = _NOT_XML_CHAR.search(value)
    if bad is None:
        return None
    from bbx.i18n import _

    return _("contains the character {char}, which XML cannot carry; remove it", char="U+" + format(ord(bad.group()), "04X"))


def _escape(value: str) -> str:
    """Escape a value for XML character data; raises ValueError on non-XML characters."""
    if value.isascii() and value.isprintable():
        # the common case (BerichtID, BSN, type code, most subjects): no control character
        # and no CR, so only the markup characters can need escaping (four per message)
        if "&" in value or "<" in value or ">" in value:
            return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return value
    if problem := unsendable_character(value):
        raise ValueError(problem)
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def normalise_text(text: str) -> str:
    """Line breaks of a message text as MijnOverheid wants them: every CR, LF or CR LF
    becomes CR LF. Intake should check the 4000-character limit on this result, since
    each normalised line break counts as two characters."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


@lru_cache(maxsize=64)
def _escaped_text(text: str) -> str:
    # Cached: a standard text is the same string for every message of a submission.
    return _escape(normalise_text(text))


def _b64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


# --------------------------------------------------------------------------- rendering

_ROOT_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<ns1:Berichten xmlns:ns1="{NS_BATCH}" xmlns:ns2="{NS_MESSAGE}">'
)
_ROOT_CLOSE = "</ns1:Berichten>\n"


def _render_head(header: BatchHeader) -> str:
    try:
        batch_id = _escape(header.batch_id)
        supplier = _escape(header.supplier_id)
        created = format_utc(header.created_at)
    except ValueError as exc:
        raise GlobeError(f"batch {header.batch_id!r}: {exc}") from None
    return (
        f"{_ROOT_OPEN}<ns1:BatchInformatie><ns1:BatchID>{batch_id}</ns1:BatchID>"
        f"<ns1:AanmaakDatum>{created}</ns1:AanmaakDatum>"
        f"<ns1:BerichtLeverancierID>{supplier}</ns1:BerichtLeverancierID></ns1:BatchInformatie>\n"
    )


def _render_message(
    m: OutgoingMessage, batch_id: str, out: list[str | bytes], content: bool
) -> None:
    """Append the ``Bericht`` of ``m`` to ``out``: ``str`` pieces, plus the base64
    ``bytes`` of each attachment (kept as bytes so a 700 kB payload is not copied into a
    str and back). With ``content=False`` attachment contents are left out (for sizing).
    """

    def esc(what: str, value: str) -> str:
        try:
            return _escape(value)
        except ValueError as exc:
            raise MessageContentError(m.message_id, f"{what} {exc}") from None

    def when(what: str, moment: datetime) -> str:
        try:
            return format_utc(moment)
        except ValueError as exc:
            raise MessageContentError(m.message_id, f"{what}: {exc}") from None

    text = ""
    if m.text:
        try:
            text = f"<ns2:BerichtTekst>{_escaped_text(m.text)}</ns2:BerichtTekst>"
        except ValueError as exc:
            raise MessageContentError(m.message_id, f"text {exc}") from None
    reference = (
        f"<ns2:Referentie>{esc('reference', m.reference)}</ns2:Referentie>" if m.reference else ""
    )
    publication = (
        f"<ns2:PublicatieDatum>{when('publication date', m.publication_date)}</ns2:PublicatieDatum>"
        if m.publication_date is not None
        else ""
    )
    deadline = (
        "<ns2:EindDatumHandelingsTermijn>"
        f"{when('action deadline', m.action_deadline)}</ns2:EindDatumHandelingsTermijn>"
        if m.action_deadline is not None
        else ""
    )
    message_id = esc("BerichtID", m.message_id)
    type_code = esc("message type code", m.message_type_code)
    subject = esc("subject", m.subject)
    user = esc("BSN", m.bsn)  # the error names the character, never the value
    descriptions = [esc("attachment description", a.description) for a in m.attachments]

    out.append(
        f"<ns2:Bericht><ns2:BerichtInformatie><ns2:BatchID>{batch_id}</ns2:BatchID>"
        f"<ns2:BerichtID>{message_id}</ns2:BerichtID>"
        f"<ns2:BerichtType>{type_code}</ns2:BerichtType>{publication}{deadline}"
        f"<ns2:Onderwerp>{subject}</ns2:Onderwerp>{text}{reference}"
        f"<ns2:GebruikerID>{user}</ns2:GebruikerID>"
        f"<ns2:SoortGebruiker>{USER_KIND}</ns2:SoortGebruiker></ns2:BerichtInformatie>"
    )
    if m.attachments:
        out.append("<ns2:Bijlagen>")
        for attachment, description in zip(m.attachments, descriptions, strict=True):
            out.append("<ns2:Bijlage><ns2:Inhoud>")
            if content:
                out.append(base64.b64encode(attachment.pdf_bytes))
            out.append(
                f"</ns2:Inhoud><ns2:BijlageType>{ATTACHMENT_KIND}</ns2:BijlageType>"
                f"<ns2:Omschrijving>{description}</ns2:Omschrijving>"
                f"<ns2:Volgorde>{int(attachment.order)}</ns2:Volgorde></ns2:Bijlage>"
            )
        out.append("</ns2:Bijlagen>")
    out.append("</ns2:Bericht>\n")


def _to_bytes(pieces: Iterable[str | bytes]) -> bytes:
    """Join str and bytes pieces into UTF-8 bytes, encoding runs of str in one go."""
    chunks: list[bytes] = []
    run: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            run.append(piece)
        else:
            if run:
                chunks.append("".join(run).encode("utf-8"))
                run = []
            chunks.append(piece)
    if run:
        chunks.append("".join(run).encode("utf-8"))
    return b"".join(chunks)


# A batch id is always 36 characters; the supplier id at most 25, each escaping to at
# most 5 bytes ("&amp;"); the date has a fixed width.
ENVELOPE_MAX_BYTES = len(
    (
        _render_head(BatchHeader("0" * 36, datetime(2000, 1, 1, tzinfo=UTC), "&" * 25))
        + _ROOT_CLOSE
    ).encode("utf-8")
)
"""Upper bound of a batch's bytes outside its ``Bericht`` elements (declaration, root,
``BatchInformatie``). A batch's size is this plus :func:`serialized_size` per message."""


def serialized_size(message: OutgoingMessage) -> int:
    """Exact size in bytes of ``message``'s ``Bericht`` in a batch built by
    :func:`build_batch` (so also an upper bound), without base64-encoding attachments.

    The batch id inside the message is assumed to be a canonical 36-character UUID.
    """
    out: list[str | bytes] = []
    _render_message(message, "0" * 36, out, content=False)
    size = len("".join(p for p in out if isinstance(p, str)).encode("utf-8"))
    return size + sum(_b64_length(len(a.pdf_bytes)) for a in message.attachments)


def build_batch(
    header: BatchHeader, messages: Iterable[OutgoingMessage], *, validate: bool = True
) -> bytes:
    """The ``GLOBE-R-BV-Request`` payload (UTF-8 XML) for ``messages``, in the given order.

    Raises :class:`GlobeError` when the batch holds 0 or more than 1000 messages or
    exceeds 100 MB (cut batches with ``bbx.domain.chunking`` first),
    :class:`MessageContentError` when a message holds characters XML cannot carry, and
    :class:`BatchValidationError` (with the offending BerichtIDs) when the result does
    not validate against BBX's XSD.
    """
    out: list[str | bytes] = [_render_head(header)]
    batch_id = _escape(header.batch_id)
    message_ids: list[str] = []
    for message in messages:
        if len(message_ids) == MAX_MESSAGES_PER_BATCH:
            raise GlobeError(
                f"batch {header.batch_id}: more than {MAX_MESSAGES_PER_BATCH} messages; "
                "cut the messages into batches with bbx.domain.chunking first"
            )
        message_ids.append(message.message_id)
        _render_message(message, batch_id, out, content=True)
    if not message_ids:
        raise GlobeError(f"batch {header.batch_id}: a batch needs at least one message")
    out.append(_ROOT_CLOSE)
    data = _to_bytes(out)
    if len(data) > MAX_BATCH_BYTES:
        raise GlobeError(
            f"batch {header.batch_id}: {len(data):,} bytes, more than the "
            f"{MAX_BATCH_BYTES:,} MijnOverheid accepts; cut batches with bbx.domain.chunking"
        )
    if validate:
        validate_batch(data, message_ids=message_ids)
    return data


# --------------------------------------------------------------------------- validation

_MESSAGE_POSITION = re.compile(r"Bericht(?:\[(\d+)\])?/")
_QUOTED_VALUE = re.compile(r"The value '.*?' (is|has)", re.DOTALL)
_ATOMIC_VALUE = re.compile(r"^(Element '[^']*': )'.*' (is not a valid value)", re.DOTALL)
_NAMESPACE = re.compile(r"\{[^}]*\}")


def _redact(message: str) -> str:
    """A libxml2 schema error without the offending value (it may be a BSN or a text)."""
    message = _QUOTED_VALUE.sub(r"The value \1", message)
    message = _ATOMIC_VALUE.sub(r"\1the value \2", message)
    message = _NAMESPACE.sub("", message)  # element names are unambiguous without them
    return bsn_rules.mask_text(message)


def validate_batch(xml_bytes: bytes, *, message_ids: Sequence[str] | None = None) -> None:
    """Validate a batch against BBX's GLOBE request XSD; raise :class:`BatchValidationError`.

    ``message_ids`` (in document order) lets the error name the BerichtIDs of the
    offending messages; without it they are named by position.
    """
    try:
        document = etree.fromstring(xml_bytes, _safe_parser())
    except etree.XMLSyntaxError as exc:
        raise BatchValidationError([f"not well-formed XML: {_redact(str(exc))}"]) from None
    schema = schemas.xml_schema(schemas.GLOBE_BATCH_REQUEST)
    if schema.validate(document):
        return
    problems: list[str] = []
    offenders: list[str] = []
    for entry in schema.error_log:
        where = ""
        match = _MESSAGE_POSITION.search(entry.path or "")
        if match:
            position = int(match.group(1) or 1)
            if message_ids is not None and 0 < position <= len(message_ids):
                offender = message_ids[position - 1]
                if offender not in offenders:
                    offenders.append(offender)
                where = f"message {position} (BerichtID {offender}): "
            else:
                where = f"message {position}: "
        problems.append(where + _redact(entry.message))
    raise BatchValidationError(problems, offenders)


def _safe_parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parser objects must not be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class MessageResult:
    """One ``Bericht`` of a result: what MijnOverheid did with one message."""

    message_id: str  # BerichtID, lower-case canonical when it is a UUID
    message_type: str  # BerichtType as echoed
    code: str  # VerwerkingsCode as received (unknown codes kept, e.g. "00")
    stage: str | None  # Stadium: "NA" = no problem; else where a technical problem arose


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A parsed ``GLOBE-R-BV-Result``. Counts are None when absent or not a number."""

    batch_id: str
    supplier_code: str
    total_received: int | None
    succeeded: int | None
    not_subscribed: int | None
    technical_problem: int | None
    message_type_incorrect: int | None
    publication_date_incorrect: int | None
    creation_date_incorrect: int | None
    received_at: datetime | None
    processed_at: datetime | None
    messages: tuple[MessageResult, ...]

    def inconsistencies(self) -> tuple[str, ...]:
        """Where the result contradicts itself (for the operator; outcomes follow the
        per-message codes regardless)."""
        found: list[str] = []
        if self.total_received is not None and self.total_received != len(self.messages):
            found.append(
                f"TotaalAantalOntvangenBerichten is {self.total_received} but the result "
                f"lists {len(self.messages)} messages"
            )
        distinct = len({m.message_id for m in self.messages})
        if distinct != len(self.messages):
            found.append(f"{len(self.messages) - distinct} BerichtID(s) occur more than once")
        return tuple(found)


def _localname(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):  # comment / processing instruction
        return ""
    return tag.rpartition("}")[2]


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    # Namespace-agnostic: the contract has Bericht qualified and its children
    # unqualified, but interface.md calls all children unqualified; accept either.
    # lxml's "{*}" matches any namespace or none, in C (a result has 4,000 such look-ups).
    return next(parent.iterchildren("{*}" + name), None)


def _child_text(parent: etree._Element, name: str) -> str | None:
    element = _child(parent, name)
    if element is None or element.text is None:
        return None
    return element.text.strip()


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


#: A GUID as ``str(uuid.UUID(...))`` writes it.
CANONICAL_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_id(value: str) -> str:
    """A GUID as BBX stores it (lower case, no braces); other values stripped as they are.

    Results come from a .NET system that may echo GUIDs in upper case.
    """
    value = value.strip()
    if CANONICAL_GUID.fullmatch(value):  # as BBX sent it: nothing to do (400,000 per 1M rows)
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


def parse_batch_result(xml_bytes: bytes) -> BatchResult:
    """Parse a ``GLOBE-R-BV-Result`` leniently: unknown codes and missing counts are kept
    as they are (what to do with them is ``bbx.domain.outcomes``'s business); only a
    result that cannot be correlated (no BatchID, a Bericht without BerichtID) fails.

    Safe parsing: no entity expansion, no network, no DTD; a DOCTYPE is refused.
    """
    try:
        root = etree.fromstring(xml_bytes, _safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ResultParseError(f"GLOBE-R-BV-Result is not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise ResultParseError("GLOBE-R-BV-Result carries a DOCTYPE, which the contract never does")
    if _localname(root) != "BerichtVerwerkResponse":
        raise ResultParseError(
            f"expected root BerichtVerwerkResponse in a GLOBE-R-BV-Result, found {_localname(root)!r}"
        )
    info = _child(root, "BatchInformatie")
    if info is None:
        raise ResultParseError("GLOBE-R-BV-Result has no BatchInformatie")
    batch_id = _child_text(info, "BatchID")
    if not batch_id:
        raise ResultParseError("GLOBE-R-BV-Result has no BatchID: it cannot be matched to a batch")

    results: list[MessageResult] = []
    container = _child(root, "Berichten")
    for position, element in enumerate(
        container.iterchildren("{*}Bericht") if container is not None else (), start=1
    ):
        message_id = _child_text(element, "BerichtID")
        if not message_id:
            raise ResultParseError(f"batch {batch_id}: result message {position} has no BerichtID")
        results.append(
            MessageResult(
                message_id=canonical_id(message_id),
                message_type=_child_text(element, "BerichtType") or "",
                code=_child_text(element, "VerwerkingsCode") or "",
                stage=_child_text(element, "Stadium") or None,
            )
        )

    def count(name: str) -> int | None:
        return _as_int(_child_text(info, name))

    return BatchResult(
        batch_id=canonical_id(batch_id),
        supplier_code=_child_text(info, "BerichtLeverancierCode") or "",
        total_received=count("TotaalAantalOntvangenBerichten"),
        succeeded=count("AantalBerichtenSuccesvolVerwerkt"),
        not_subscribed=count("AantalBerichtenGeenActieveBoxOfGeabonneertOpLeverancier"),
        technical_problem=count("AantalBerichtenMetTechnischProbleem"),
        message_type_incorrect=count("AantalBerichtenBerichtTypeNietCorrect"),
        publication_date_incorrect=count("AantalBerichtenPublicatieDatumNietCorrect"),
        creation_date_incorrect=count("AantalBerichtenAanmaakDatumNietCorrect"),
        received_at=parse_datetime(_child_text(info, "DatumOntvangen")),
        processed_at=parse_datetime(_child_text(info, "DatumVerwerkt")),
        messages=tuple(results),
    )
