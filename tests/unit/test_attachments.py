"""Composing a message's attachments (≤ 2 PDFs, ≤ 500 kB) and inspecting tenant PDFs."""

from __future__ import annotations

import io
import random

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from bbx.domain.attachments import (
    DEFAULT_DESCRIPTION,
    AttachmentRejection,
    Composed,
    PdfInfo,
    PdfProblem,
    SourcePdf,
    compose,
    fit_description,
    inspect_pdf,
    merge_pdfs,
    prepare_standard_set,
)
from bbx.domain.limits import MAX_ATTACHMENT_BYTES_PER_MESSAGE

pytestmark = pytest.mark.usefixtures("english")  # these tests pin the English wording


def make_pdf(pages: int = 1, pad: int = 0, xmp: bytes | None = None, width: int = 595) -> bytes:
    """A real PDF of ``pages`` blank pages of ``width`` points; ``pad`` adds that many
    incompressible bytes to the first page's content stream (to cross the 500 kB limit)."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=width, height=842)
    if pad:
        stream = DecodedStreamObject()
        # one comment line of random bytes: incompressible, so merging cannot shrink it
        noise = random.Random(pad).randbytes(pad).replace(b"\n", b" ").replace(b"\r", b" ")
        stream.set_data(b"% " + noise + b"\n")
        writer.pages[0][NameObject("/Contents")] = writer._add_object(stream)
    if xmp is not None:
        metadata = DecodedStreamObject()
        metadata.set_data(xmp)
        metadata[NameObject("/Type")] = NameObject("/Metadata")
        metadata[NameObject("/Subtype")] = NameObject("/XML")
        writer.root_object[NameObject("/Metadata")] = writer._add_object(metadata)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pages_of(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)


def widths_of(data: bytes) -> list[int]:
    return [round(float(page.mediabox.width)) for page in PdfReader(io.BytesIO(data)).pages]


# Page counts and page widths identify each source PDF in the composed output.
STANDARD = [SourcePdf(f"Folder {n}", make_pdf(pages=n, width=100 + n)) for n in (1, 2, 3)]
PERSONAL = [
    SourcePdf(f"Brief deel {n}", make_pdf(pages=p, width=500 + n)) for n, p in ((1, 10), (2, 20))
]


def composed(standard_count: int, personal_count: int) -> Composed:
    result = compose(prepare_standard_set(STANDARD[:standard_count]), PERSONAL[:personal_count])
    assert isinstance(result, Composed), getattr(result, "reason", "")
    return result


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("standard_count", "personal_count", "expected_pages"),
    [
        (0, 0, []),
        (1, 0, [1]),
        (2, 0, [1, 2]),
        (3, 0, [6]),  # merged standard
        (0, 1, [10]),
        (0, 2, [10, 20]),
        (1, 1, [10, 1]),  # as they are, personal first
        (2, 1, [10, 3]),  # personal + merged standard
        (3, 1, [10, 6]),
        (1, 2, [10, 21]),  # standard appended to the last personal PDF
        (2, 2, [10, 23]),
        (3, 2, [10, 26]),
    ],
)
def test_composition_rule(standard_count, personal_count, expected_pages):
    result = composed(standard_count, personal_count)

    assert [pages_of(a.pdf_bytes) for a in result.attachments] == expected_pages
    assert [a.order for a in result.attachments] == list(range(1, len(expected_pages) + 1))
    assert result.total_bytes == sum(len(a.pdf_bytes) for a in result.attachments)
    assert all(1 <= len(a.description) <= 128 for a in result.attachments)


def test_as_they_are_means_byte_identical():
    result = composed(1, 1)
    assert result.attachments[0].pdf_bytes is PERSONAL[0].content
    assert result.attachments[1].pdf_bytes is STANDARD[0].content


def test_descriptions_of_merged_pdfs():
    assert [a.description for a in composed(3, 1).attachments] == [
        "Brief deel 1",
        "Folder 1 + Folder 2 + Folder 3",
    ]
    assert [a.description for a in composed(2, 2).attachments] == [
        "Brief deel 1",
        "Brief deel 2 + Folder 1 + Folder 2",
    ]
    custom = prepare_standard_set(STANDARD, merged_description="Informatie over uw aanslag")
    assert compose(custom, PERSONAL[:1]).attachments[1].description == "Informatie over uw aanslag"


def test_merged_pdfs_keep_page_order():
    merged = merge_pdfs([s.content for s in reversed(STANDARD)])
    assert widths_of(merged) == [103, 103, 103, 102, 102, 101]


def test_appended_standard_follows_the_personal_pages_in_configured_order():
    first, second = composed(3, 2).attachments
    assert widths_of(first.pdf_bytes) == [501] * 10
    assert widths_of(second.pdf_bytes) == [502] * 20 + [101] + [102] * 2 + [103] * 3


def test_standard_set_is_merged_once_and_reused():
    standard = prepare_standard_set(STANDARD)
    first = compose(standard, PERSONAL[:1])
    second = compose(standard, [SourcePdf("Andere brief", make_pdf(pages=4))])

    assert first.attachments[1].pdf_bytes is standard.merged.content
    assert second.attachments[1].pdf_bytes is standard.merged.content
    assert inspect_pdf(standard.merged.content) == PdfInfo(
        size=len(standard.merged.content), pages=6, pdf_version="1.3", pdfa_part=None
    )


def test_single_standard_pdf_is_not_re_merged():
    standard = prepare_standard_set(STANDARD[:1])
    assert standard.merged.content is STANDARD[0].content


# --------------------------------------------------------------------------- refusals


def test_too_large_personal_pdf_is_rejected_with_sizes_and_advice():
    big = SourcePdf("Jaaroverzicht 123456782.pdf", make_pdf(pad=600_000))
    result = compose(prepare_standard_set(STANDARD[:1]), [big])

    assert isinstance(result, AttachmentRejection) and not result.ok
    assert result.total_bytes == len(big.content) > MAX_ATTACHMENT_BYTES_PER_MESSAGE
    assert f"personal PDF 1 {-(-len(big.content) // 1000):,} kB" in result.reason
    assert "at most 500 kB per message" in result.reason
    assert "make the personal PDFs smaller" in result.reason
    assert "not sent" in result.reason
    assert "123456782" not in result.reason  # never echo a personal file's name


def exact_size_pdf(size: int, seed: int) -> bytes:
    """A real PDF of exactly ``size`` bytes (a comment after %%EOF makes up the rest)."""
    data = make_pdf(pad=size - 2_000 + seed)
    assert len(data) <= size - 2
    return data + b"%" + b"x" * (size - len(data) - 2) + b"\n"


def test_a_pair_of_personal_pdfs_of_501_000_bytes_is_refused_in_kb_of_1000_bytes():
    # "500 kB" is 500,000 bytes (limits.py): 501,000 bytes would be BijlageTeGroot at Logius
    personal = [SourcePdf("Deel 1", exact_size_pdf(250_500, 1)), SourcePdf("Deel 2", exact_size_pdf(250_500, 2))]
    assert sum(len(p.content) for p in personal) == 501_000
    assert all(inspect_pdf(p.content).ok for p in personal)

    result = compose(prepare_standard_set([]), personal)

    assert isinstance(result, AttachmentRejection) and result.total_bytes == 501_000
    assert result.reason.startswith("the attachments of this message are 501 kB together")
    assert "personal PDF 1 251 kB; personal PDF 2 251 kB" in result.reason
    assert "at most 500 kB per message" in result.reason
    # just at the limit is fine
    at_limit = [SourcePdf("Deel 1", exact_size_pdf(250_000, 1)), SourcePdf("Deel 2", exact_size_pdf(250_000, 2))]
    assert compose(prepare_standard_set([]), at_limit).ok


def test_rejected_when_only_the_composition_is_too_large():
    personal = [
        SourcePdf("Deel 1", make_pdf(pad=200_000)),
        SourcePdf("Deel 2", make_pdf(pad=200_000)),
    ]
    standard = prepare_standard_set([SourcePdf("Folder", make_pdf(pad=150_000))])
    assert sum(len(p.content) for p in personal) < MAX_ATTACHMENT_BYTES_PER_MESSAGE

    result = compose(standard, personal)

    assert isinstance(result, AttachmentRejection)
    assert result.total_bytes > MAX_ATTACHMENT_BYTES_PER_MESSAGE
    assert "standard PDF 'Folder'" in result.reason
    assert "fewer or smaller standard PDFs" in result.reason


def test_too_large_standard_set_alone_is_rejected():
    standard = prepare_standard_set(
        [SourcePdf("A", make_pdf(pad=300_000)), SourcePdf("B", make_pdf(pad=300_000))]
    )
    result = compose(standard, [])
    assert isinstance(result, AttachmentRejection)
    assert "standard PDFs of this message type smaller" in result.reason


def test_just_under_the_limit_is_accepted():
    pdf = make_pdf(pad=490_000)
    assert len(pdf) < MAX_ATTACHMENT_BYTES_PER_MESSAGE
    result = compose(prepare_standard_set([]), [SourcePdf("Brief", pdf)])
    assert isinstance(result, Composed) and result.ok
    assert result.total_bytes == len(pdf)


def test_more_than_two_personal_pdfs_is_rejected():
    result = compose(prepare_standard_set([]), PERSONAL + PERSONAL[:1])
    assert isinstance(result, AttachmentRejection)
    assert "3 personal PDFs" in result.reason


def test_more_than_three_standard_pdfs_is_a_configuration_error():
    with pytest.raises(ValueError, match="at most 3 standard"):
        prepare_standard_set(STANDARD + STANDARD[:1])


def test_fit_description():
    assert fit_description("  Uw   brief\n2026 ") == "Uw brief 2026"
    assert fit_description("") == fit_description(None) == DEFAULT_DESCRIPTION
    long = fit_description("x" * 200)
    assert len(long) == 128 and long.endswith("…")


# --------------------------------------------------------------------------- inspect_pdf


def test_inspect_valid_pdf():
    data = make_pdf(pages=3)
    info = inspect_pdf(data)
    assert info == PdfInfo(size=len(data), pages=3, pdf_version="1.3", pdfa_part=None)
    assert info.ok


_XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">%s</rdf:RDF></x:xmpmeta>'
        b'<?xpacket end="w"?>')


@pytest.mark.parametrize("description", [
    b'<rdf:Description xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" pdfaid:part="2" pdfaid:conformance="A"/>',
    b'<rdf:Description><pdfaid:part xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">2</pdfaid:part>'
    b'</rdf:Description>',
])
def test_inspect_reports_a_pdfa_claim(description):
    info = inspect_pdf(make_pdf(xmp=_XMP % description))
    assert isinstance(info, PdfInfo) and info.pdfa_part == "2" and info.claims_pdfa


@pytest.mark.parametrize("xmp", [
    _XMP % b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>pdfaid:part="2"</dc:title>'
           b'</rdf:Description>',
    b"not xml pdfaid:part>2",
    _XMP % b'<rdf:Description xmlns:pdfaid="urn:other" pdfaid:part="2"/>',  # another namespace
])
def test_inspect_does_not_take_look_alikes_for_a_pdfa_claim(xmp):
    info = inspect_pdf(make_pdf(xmp=xmp))
    assert isinstance(info, PdfInfo) and info.pdfa_part is None and not info.claims_pdfa


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"PK\x03\x04word/document.xml", "Word .docx"),
        (b"\xff\xd8\xff\xe0JFIF", "a JPEG image"),
        (b"Beste mevrouw, hierbij", "does not start with a PDF header"),
        (b"%PDF-1.7\nthis is no pdf at all", "damaged and cannot be opened"),
    ],
)
def test_inspect_refuses_non_pdfs(data, reason):
    problem = inspect_pdf(data)
    assert isinstance(problem, PdfProblem) and not problem.ok
    assert reason in problem.reason


def test_inspect_refuses_a_truncated_pdf():
    data = make_pdf(pages=2, pad=20_000)
    problem = inspect_pdf(data[: len(data) // 3])
    assert isinstance(problem, PdfProblem)
    assert "damaged" in problem.reason


def test_inspect_refuses_an_encrypted_pdf():
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.encrypt(user_password="geheim", owner_password="geheim")
    out = io.BytesIO()
    writer.write(out)

    problem = inspect_pdf(out.getvalue())
    assert isinstance(problem, PdfProblem)
    assert "encrypted or password-protected" in problem.reason


def test_inspect_refuses_a_pdf_without_pages():
    out = io.BytesIO()
    PdfWriter().write(out)
    problem = inspect_pdf(out.getvalue())
    assert problem == PdfProblem("the PDF has no pages")
