"""Composing the attachments of one message into what MijnOverheid accepts.

The product allows a message type up to 3 standard PDFs and a citizen up to 2 personal
PDFs; MijnOverheid accepts at most 2 PDFs per message, together at most 500 kB before
base64 (``limits.py``). The composition rule, applied in this order:

1. at most 2 PDFs in total: send them as they are — personal first, then standard;
2. otherwise merge all standard PDFs into one, in their configured order, and send the
   personal PDFs followed by that merged PDF;
3. if that is still 3 PDFs (2 personal + the merged standard), append the merged
   standard PDF to the last personal PDF.

The result is 1 or 2 PDFs with ``Volgorde`` 1, 2 in that order, or nothing when there
are no PDFs. If the composed PDFs together exceed 500 kB the message is rejected with a
reason that says what, how large and what to do — BBX never sends it.

Why personal first: the personal document is the letter itself; standard PDFs are
enclosures (leaflets, conditions) and read naturally after it.

Merging the standard set is done once per message type (:func:`prepare_standard_set`),
not once per message: a million-message submission with standard attachments only
reuses the same merged bytes. Only rule 3 merges per message (``bench/bench_pdf_compose.py``:
about 25 ms with pikepdf on the sample set, pypdf took twice that and lost PDF/A).

PDF/A: Logius expects PDF/A attachments. PDFs sent as they are keep what they are. A
merged PDF (rules 2 and 3) is written with pikepdf (qpdf) as a new document; when every
input claims PDF/A (XMP ``pdfaid:part`` 1 or 2) and their output intents have the same
colour model, it gets the first input's OutputIntent and XMP ``pdfaid:part`` 2,
``pdfaid:conformance`` B, so the result is PDF/A-2b (fonts and profiles are copied with
the pages). Otherwise it claims nothing: a false PDF/A claim is worse than none.
Personal PDFs that do not claim PDF/A are reported per submission (:class:`PdfaTally`):
a note under the connection's ``pdfa: warn`` (default), a refusal under ``pdfa: strict``.

Everything is bytes in, bytes out: no files. Descriptions are shown to the citizen;
never derive a personal PDF's description from its file name (it holds the BSN).

Over ~400 lines on purpose: composition, the size rules and PDF/A are one pass over
the same PDFs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree

from bbx.domain.globe import Attachment
from bbx.domain.limits import (
    MAX_ATTACHMENT_BYTES_PER_MESSAGE,
    MAX_ATTACHMENT_DESCRIPTION_CHARS,
    MAX_ATTACHMENTS_PER_MESSAGE,
    MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE,
    MAX_STANDARD_ATTACHMENTS_PER_MESSAGE_TYPE,
)
from bbx.i18n import _, number

if TYPE_CHECKING:  # pikepdf and pypdf load only when a PDF is read or merged (~1 s of a task's start-up)
    import pikepdf
    from pypdf import PdfReader

DEFAULT_DESCRIPTION = "Bijlage"  # shown to the citizen when no description was given
_JOIN = " + "


class AttachmentError(ValueError):
    """A PDF could not be processed (it should have been refused by inspect_pdf first)."""


@dataclass(frozen=True, slots=True)
class SourcePdf:
    """A PDF as the tenant provided it, with the description the citizen will see."""

    description: str
    content: bytes = field(repr=False)


# --------------------------------------------------------------------------- inspection


@dataclass(frozen=True, slots=True)
class PdfInfo:
    size: int  # bytes
    pages: int
    pdf_version: str  # from the header, e.g. "1.7"
    pdfa_part: str | None  # "1", "2", ... when the XMP metadata claims PDF/A, else None

    @property
    def ok(self) -> bool:
        return True

    @property
    def claims_pdfa(self) -> bool:
        return self.pdfa_part is not None


@dataclass(frozen=True, slots=True)
class PdfProblem:
    reason: str  # written for the tenant: what is wrong and what to do

    @property
    def ok(self) -> bool:
        return False


def _magic() -> tuple[tuple[bytes, str], ...]:
    """What a file that is not a PDF is, by its first bytes (a function: the names are
    translated when a problem is written, in the language of its report)."""
    return (
        (b"PK\x03\x04", _("a ZIP archive (for example a Word .docx or Excel .xlsx file)")),
        (b"\xd0\xcf\x11\xe0", _("an old Microsoft Office document (.doc or .xls)")),
        (b"\xff\xd8\xff", _("a JPEG image")),
        (b"\x89PNG", _("a PNG image")),
        (b"GIF8", _("a GIF image")),
        (b"II*\x00", _("a TIFF image")),
        (b"MM\x00*", _("a TIFF image")),
        (b"{\\rtf", _("an RTF document")),
    )
_PDF_HEADER = re.compile(rb"%PDF-(\d\.\d)")
_PDFAID = "http://www.aiim.org/pdfa/ns/id/"
_RDF_DESCRIPTION = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"
_XMP_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
# Parts whose files can be merged into a PDF/A-2b: PDF/A-2 accepts PDF/A-1 content; PDF/A-3
# may carry embedded files that 2b forbids, so it is not claimed after a merge.
_PDFA_MERGEABLE_PARTS = ("1", "2")


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def inspect_pdf(data: bytes) -> PdfInfo | PdfProblem:
    """Check that ``data`` is a PDF MijnOverheid can show: it opens, is not encrypted and
    has at least one page. Size and PDF/A are reported, not judged (the size limit
    applies per message, after composition)."""
    if not data:
        return PdfProblem(_("the file is empty (0 bytes): upload the PDF again"))
    header = _PDF_HEADER.search(data[:1024])
    if header is None:
        for magic, what in _magic():
            if data.startswith(magic):
                return PdfProblem(_("not a PDF: the file is {what}; export or print it as PDF", what=what))
        return PdfProblem(_(
            "not a PDF: the file does not start with a PDF header (%PDF-); "
            "export or print the document as PDF"
        ))
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return PdfProblem(_(
                "the PDF is encrypted or password-protected; MijnOverheid cannot show it: "
                "save it again without a password or restrictions"
            ))
        pages = len(reader.pages)
        pdfa = _pdfa_part(reader)
    except Exception as exc:  # a damaged PDF makes pypdf raise almost anything
        return PdfProblem(_(
            "the PDF is damaged and cannot be opened ({error}); create the PDF again",
            error=_error_text(exc),
        ))
    if pages == 0:
        return PdfProblem(_("the PDF has no pages"))
    return PdfInfo(
        size=len(data), pages=pages, pdf_version=header.group(1).decode("ascii"), pdfa_part=pdfa
    )


def _pdfa_part(reader: PdfReader) -> str | None:
    """The PDF/A part the document's own XMP metadata (the catalog's /Metadata) claims."""
    metadata = reader.trailer["/Root"].get("/Metadata")
    if metadata is None:
        return None
    claim = xmp_pdfa_claim(metadata.get_object().get_data())
    return claim[0] if claim else None


def xmp_pdfa_claim(xmp: bytes) -> tuple[str, str] | None:
    """(``pdfaid:part``, ``pdfaid:conformance``) of an XMP packet, or None when it claims
    no PDF/A (or is not readable XML). Either RDF form counts: attribute or element."""
    try:
        root = etree.fromstring(xmp.strip(b"\x00 \t\r\n"), _XMP_PARSER)
    except etree.XMLSyntaxError:
        return None
    for description in root.iter(_RDF_DESCRIPTION):
        part = description.get(f"{{{_PDFAID}}}part") or description.findtext(f"{{{_PDFAID}}}part")
        if part and part.strip():
            conformance = (description.get(f"{{{_PDFAID}}}conformance")
                           or description.findtext(f"{{{_PDFAID}}}conformance") or "")
            return part.strip(), conformance.strip()
    return None


# --------------------------------------------------------------------------- composition


def fit_description(text: str | None) -> str:
    """A valid ``Omschrijving``: whitespace collapsed, 1-128 characters (cut with "…")."""
    text = " ".join((text or "").split())
    if not text:
        return DEFAULT_DESCRIPTION
    if len(text) > MAX_ATTACHMENT_DESCRIPTION_CHARS:
        text = text[: MAX_ATTACHMENT_DESCRIPTION_CHARS - 1].rstrip() + "…"
    return text


def merge_pdfs(contents: Sequence[bytes]) -> bytes:
    """One PDF with all pages of ``contents``, in order; PDF/A-2b when every input is
    PDF/A (see the module docstring)."""
    import pikepdf

    sources: list[pikepdf.Pdf] = []
    try:
        out = pikepdf.new()
        for content in contents:
            source = pikepdf.open(io.BytesIO(content))
            sources.append(source)
            out.pages.extend(source.pages)
        intents = _mergeable_pdfa_intents(sources, out)
        if intents is not None:
            out.Root.OutputIntents = _copy_object(out, intents)
            with out.open_metadata(set_pikepdf_as_editor=False) as xmp:
                xmp["pdfaid:part"] = "2"
                xmp["pdfaid:conformance"] = "B"
        buffer = io.BytesIO()
        out.save(buffer, deterministic_id=True)  # same inputs, same bytes (a rerun changes nothing)
    except Exception as exc:  # a damaged PDF makes qpdf raise almost anything; see inspect_pdf
        raise AttachmentError(_(
            "PDFs could not be combined ({error}); check them with inspect_pdf", error=_error_text(exc)
        )) from None
    finally:
        for source in sources:
            source.close()
    return buffer.getvalue()


def _pdfa_claim(pdf: pikepdf.Pdf) -> tuple[str, str] | None:
    """(part, conformance) that a document's XMP claims, or None."""
    if "/Metadata" not in pdf.Root:
        return None
    return xmp_pdfa_claim(pdf.Root.Metadata.read_bytes())


def _mergeable_pdfa_intents(sources: Sequence[pikepdf.Pdf], out: pikepdf.Pdf) -> pikepdf.Array | None:
    """The first input's OutputIntents when the merge may claim PDF/A-2b, else None: every
    input claims PDF/A-1 or -2 and has a PDF/A output intent, all with the same number of
    colour components (device colours stay meaningful), and no page carries an embedded
    file (forbidden in 2b)."""
    components = set()
    for source in sources:
        claim = _pdfa_claim(source)
        if claim is None or claim[0] not in _PDFA_MERGEABLE_PARTS:
            return None
        intents = [i for i in source.Root.get("/OutputIntents", []) if i.get("/S") == "/GTS_PDFA1"]
        profiles = [i.get("/DestOutputProfile") for i in intents]
        if not intents or any(p is None for p in profiles):
            return None
        components.update(int(p.get("/N", 0)) for p in profiles)
    if len(components) != 1:
        return None
    for page in out.pages:
        if any(a.get("/Subtype") == "/FileAttachment" for a in page.obj.get("/Annots", [])):
            return None
    return sources[0].Root.OutputIntents


def _copy_object(out: pikepdf.Pdf, obj):
    """``obj`` of another document, usable in ``out`` (indirect objects are copied over)."""
    import pikepdf

    if isinstance(obj, pikepdf.Object) and obj.is_indirect:
        return out.copy_foreign(obj)
    if isinstance(obj, pikepdf.Dictionary):
        return pikepdf.Dictionary({key: _copy_object(out, value) for key, value in obj.items()})
    if isinstance(obj, pikepdf.Array):
        return pikepdf.Array([_copy_object(out, value) for value in obj])
    return obj


@dataclass(frozen=True, slots=True)
class StandardSet:
    """The standard PDFs of one message type, prepared once for all its messages."""

    pdfs: tuple[SourcePdf, ...]  # as configured, in order
    merged: SourcePdf | None  # all of them as one PDF; None when there are none


def prepare_standard_set(
    pdfs: Sequence[SourcePdf], *, merged_description: str | None = None
) -> StandardSet:
    """Prepare (and merge once) the standard PDFs of a message type.

    ``merged_description`` names the merged PDF for the citizen; by default the
    descriptions joined with " + " (cut to 128 characters).
    """
    if len(pdfs) > MAX_STANDARD_ATTACHMENTS_PER_MESSAGE_TYPE:
        raise ValueError(
            f"a message type has at most {MAX_STANDARD_ATTACHMENTS_PER_MESSAGE_TYPE} "
            f"standard attachments, got {len(pdfs)}"
        )
    prepared = tuple(SourcePdf(fit_description(p.description), p.content) for p in pdfs)
    if not prepared:
        return StandardSet((), None)
    if len(prepared) == 1:
        merged = prepared[0]
    else:
        description = merged_description or _JOIN.join(p.description for p in prepared)
        merged = SourcePdf(fit_description(description), merge_pdfs([p.content for p in prepared]))
    return StandardSet(prepared, merged)


@dataclass(frozen=True, slots=True)
class Composed:
    attachments: tuple[Attachment, ...]  # 0-2, Volgorde 1..n, ready for globe
    total_bytes: int

    @property
    def ok(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class AttachmentRejection:
    reason: str  # for the tenant's error report; never names a personal file
    total_bytes: int | None

    @property
    def ok(self) -> bool:
        return False


def _kb(size: int) -> str:
    # The unit of the limit: kB = 1,000 bytes (limits.py reads "500 kB" as 500,000), rounded
    # up so that a size over the limit never shows as "500 kB".
    return f"{number(-(-size // 1000))} kB"


def compose(standard: StandardSet, personal: Sequence[SourcePdf]) -> Composed | AttachmentRejection:
    """The attachments of one message under the rule in the module docstring."""
    if len(personal) > MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE:
        return AttachmentRejection(_(
            "{n} personal PDFs for one message; at most {max} are allowed: combine them into fewer PDFs",
            n=len(personal), max=MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE,
        ), None)
    personal = [SourcePdf(fit_description(p.description), p.content) for p in personal]
    limit = MAX_ATTACHMENT_BYTES_PER_MESSAGE
    personal_bytes = sum(len(p.content) for p in personal)
    if personal_bytes > limit:  # no composition can help: refuse before merging
        return _too_large(standard, personal, personal_bytes)

    if len(personal) + len(standard.pdfs) <= MAX_ATTACHMENTS_PER_MESSAGE:
        chosen = [*personal, *standard.pdfs]
    elif len(personal) + 1 <= MAX_ATTACHMENTS_PER_MESSAGE:
        chosen = [*personal, standard.merged]
    else:
        *first, last = personal
        try:
            combined = merge_pdfs([last.content, standard.merged.content])
        except AttachmentError as exc:
            return AttachmentRejection(_("the attachments could not be combined: {error}", error=exc), None)
        description = fit_description(last.description + _JOIN + standard.merged.description)
        chosen = [*first, SourcePdf(description, combined)]

    total = sum(len(p.content) for p in chosen)
    if total > limit:
        return _too_large(standard, personal, total)
    return Composed(
        tuple(Attachment(p.description, p.content, order) for order, p in enumerate(chosen, 1)),
        total,
    )


def _too_large(
    standard: StandardSet, personal: Sequence[SourcePdf], total: int
) -> AttachmentRejection:
    parts = [_("personal PDF {n} {size}", n=i, size=_kb(len(p.content))) for i, p in enumerate(personal, 1)]
    parts += [_("standard PDF '{name}' {size}", name=p.description, size=_kb(len(p.content))) for p in standard.pdfs]
    if personal and standard.pdfs:
        advice = _("make the personal PDFs smaller (for example lower the image resolution or split the letter "
                   "over two messages), or select fewer or smaller standard PDFs on the message type")
    elif personal:
        advice = _("make the personal PDFs smaller (for example lower the image resolution or split the letter "
                   "over two messages)")
    else:
        advice = _("make the standard PDFs of this message type smaller or select fewer of them")
    return AttachmentRejection(_(
        "the attachments of this message are {total} together ({parts}); MijnOverheid accepts at most {max} "
        "per message: {advice}. The message was not sent.",
        total=_kb(total), parts="; ".join(parts), max=_kb(MAX_ATTACHMENT_BYTES_PER_MESSAGE), advice=advice,
    ), total)


# --------------------------------------------------------------------------- PDF/A per submission

PDFA_POLICIES = ("warn", "strict")  # a connection's ``pdfa`` setting (tenant configuration)
DEFAULT_PDFA_POLICY = "warn"
_PDFA_EXAMPLES = 10


def not_pdfa_reason() -> str:
    """Why ``pdfa: strict`` refuses a PDF (in the language of the report being written)."""
    return _("the PDF is not PDF/A (its metadata claims no PDF/A conformance) and this connection "
             "accepts only PDF/A: export or save the document as PDF/A (PDF/A-2b)")


@dataclass
class PdfaTally:
    """The personal PDFs of one submission that do not claim PDF/A (XMP ``pdfaid``).

    Logius expects PDF/A; BBX does not repair a tenant's PDF. Under the connection's
    ``pdfa: warn`` (default) such a PDF is sent and counted for a note in the tenant's
    acknowledgement; under ``pdfa: strict`` it is refused (its row, with the reason).
    Pure: feed it every personal PDF with :meth:`check`, read :meth:`note` at the end.
    """

    policy: str = DEFAULT_PDFA_POLICY
    checked: int = 0
    not_pdfa: int = 0
    examples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.policy not in PDFA_POLICIES:
            raise ValueError(f"pdfa policy {self.policy!r} must be one of {', '.join(PDFA_POLICIES)}")

    def check(self, name: str, info: PdfInfo) -> str | None:
        """Count one personal PDF; the refusal reason when it must not be sent."""
        self.checked += 1
        if info.claims_pdfa:
            return None
        self.not_pdfa += 1
        if len(self.examples) < _PDFA_EXAMPLES:
            self.examples.append(name)
        return not_pdfa_reason() if self.policy == "strict" else None

    def note(self) -> str | None:
        """The note for the acknowledgement (``warn``), or None when there is nothing to say."""
        if not self.not_pdfa or self.policy == "strict":
            return None  # strict: every such PDF is in the error report with its reason
        more = _(" and more") if self.not_pdfa > len(self.examples) else ""
        return _(
            "{n} of {checked} personal PDF(s) are not PDF/A ({examples}{more}); they are sent as they are, "
            "but MijnOverheid expects PDF/A: export the documents as PDF/A (PDF/A-2b).",
            n=number(self.not_pdfa), checked=number(self.checked), examples=", ".join(self.examples), more=more,
        )
