"""Personal PDFs that are not PDF/A: a note in the acknowledgement, or refused (strict)."""

import io
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
import pytest
from fpdf import FPDF
from intake_helpers import pdf

from bbx.domain import attachments as att
from bbx.domain import bsn
from bbx.domain.drop import ListedFile, classify, parse_marker
from bbx.domain.drop_check import DropCheck, MessageTypeInfo

B = list(bsn.generate(4, seed=13))
WITH_TEXT = MessageTypeInfo("PASPRT", "Uw paspoort verloopt", has_standard_text=True)
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def pdfa_letter() -> bytes:
    if not FONT.exists():
        pytest.skip(f"{FONT} not installed (Debian fonts-dejavu-core)")
    document = FPDF(enforce_compliance="PDF/A-2B")
    document.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))
    document.add_font("D", "", str(FONT))
    document.add_page()
    document.set_font("D", size=12)
    document.cell(0, 7, "Geachte heer, mevrouw")
    return bytes(document.output())


def drop(pdfa: str) -> DropCheck:
    files = {
        "bsns.csv": "\n".join(B[:3]).encode(),
        f"{B[0]}_1.pdf": pdfa_letter(),
        f"{B[1]}_1.pdf": pdf("geen PDF/A"),
        f"{B[2]}_1.pdf": pdfa_letter(),
        f"{B[2]}_2.pdf": pdf("ook geen PDF/A"),
        "READY": b"message_type: PASPRT\n",
    }
    listed = [classify(ListedFile(name, len(data))) for name, data in files.items()]
    marker = parse_marker("READY", files["READY"])
    return DropCheck(marker, listed, lambda name: io.BytesIO(files[name]), pdfa=pdfa).scan()


def test_warn_sends_them_and_says_so_in_the_acknowledgement():
    check = drop("warn")
    results = list(check.check_rows(WITH_TEXT, None, {}))
    assert all(r.accepted for r in results)
    assert check.notes() == [
        f"2 of 4 personal PDF(s) are not PDF/A ({B[1]}_1.pdf, {B[2]}_2.pdf); they are sent as they are, "
        "but MijnOverheid expects PDF/A: export the documents as PDF/A (PDF/A-2b)."
    ]


def test_strict_refuses_the_rows_with_a_reason_and_keeps_the_others():
    check = drop("strict")
    verdicts = {r.bsn: r.reasons for r in check.check_rows(WITH_TEXT, None, {})}
    assert verdicts[B[0]] == []
    assert verdicts[B[1]] == [f"personal PDF {B[1]}_1.pdf: {att.not_pdfa_reason()}"]
    assert verdicts[B[2]] == [f"personal PDF {B[2]}_2.pdf: {att.not_pdfa_reason()}"]
    assert "PDF/A-2b" in att.not_pdfa_reason()
    assert check.notes() == []  # the reasons are in the error report


def test_no_note_when_every_pdf_is_pdfa_and_an_unknown_policy_is_refused():
    tally = att.PdfaTally("warn")
    info = att.inspect_pdf(pdfa_letter())
    assert tally.check("a.pdf", info) is None and tally.note() is None
    with pytest.raises(ValueError, match="warn, strict"):
        att.PdfaTally("lenient")


def test_a_pdf_whose_pdfa_claim_is_removed_counts_as_not_pdfa():
    with pikepdf.open(io.BytesIO(pdfa_letter())) as document:
        del document.Root.Metadata
        out = io.BytesIO()
        document.save(out)
    assert att.PdfaTally("strict").check("x.pdf", att.inspect_pdf(out.getvalue())) == att.not_pdfa_reason()
