"""Regenerate the sample standard attachments in config/sample/attachments as PDF/A-2b.

Run: .venv/bin/python scripts/make_sample_pdfs.py  (the PDFs are committed; this is how
they were made, and running it again writes the same bytes).

PDF/A needs embedded fonts and an output intent: fpdf2's PDF/A-2B mode writes the sRGB
output intent and the XMP ``pdfaid`` identification; the text is set in DejaVu Sans
(Debian's ``fonts-dejavu-core``, /usr/share/fonts/truetype/dejavu), embedded as a subset.
The catalog's /OpenAction (a view setting fpdf2 always writes) is removed: harmless in
PDF/A, but outside what pikepdf's allowlist validator approves (tests/unit/test_pdfa.py).
"""

import io
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
from fpdf import FPDF

OUT = Path(__file__).resolve().parents[1] / "config" / "sample" / "attachments"
FONTS = Path("/usr/share/fonts/truetype/dejavu")
CREATED = datetime(2026, 1, 1, tzinfo=UTC)  # reproducible: no "now" anywhere in the file

DOCUMENTS = {
    "folder-paspoort.pdf": ("Uw paspoort of identiteitskaart vernieuwen",
                            "Maak online een afspraak. Neem een recente pasfoto mee."),
    "privacyverklaring.pdf": ("Privacyverklaring", "Zo gaan wij om met uw persoonsgegevens."),
    "upo-toelichting.pdf": ("Toelichting op uw Uniform Pensioenoverzicht",
                            "Wat betekenen de bedragen in uw UPO?"),
    "pensioen-faq.pdf": ("Veelgestelde vragen", "Antwoorden op vragen over uw pensioen."),
    "zorg-toelichting.pdf": ("Toelichting pensioenregeling zorg", "Uw regeling in het kort."),
}


def make(title: str, body: str) -> bytes:
    pdf = FPDF(enforce_compliance="PDF/A-2B")
    pdf.set_title(title)
    pdf.set_lang("nl-NL")
    pdf.set_creation_date(CREATED)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=11)
    pdf.multi_cell(0, 7, body, new_x="LMARGIN", new_y="NEXT")
    with pikepdf.open(io.BytesIO(bytes(pdf.output()))) as document:
        del document.Root.OpenAction
        del document.trailer.ID  # fpdf2 draws a random one; qpdf derives it from the content
        with document.open_metadata(set_pikepdf_as_editor=False) as xmp:  # fpdf2 writes "now"
            xmp["xmp:ModifyDate"] = xmp["xmp:MetadataDate"] = CREATED.isoformat()
        out = io.BytesIO()
        document.save(out, deterministic_id=True)
    return out.getvalue()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (title, body) in DOCUMENTS.items():
        (OUT / name).write_bytes(make(title, body))
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
