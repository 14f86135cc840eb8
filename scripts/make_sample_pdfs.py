"""Regenerate the sample standard attachments in config/sample/attachments (fpdf2).

Run: .venv/bin/python scripts/make_sample_pdfs.py  (the PDFs are committed; this is
how they were made).
"""

from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

OUT = Path(__file__).resolve().parents[1] / "config" / "sample" / "attachments"

DOCUMENTS = {
    "folder-paspoort.pdf": ("Uw paspoort of identiteitskaart vernieuwen",
                            "Maak online een afspraak. Neem een recente pasfoto mee."),
    "privacyverklaring.pdf": ("Privacyverklaring", "Zo gaan wij om met uw persoonsgegevens."),
    "upo-toelichting.pdf": ("Toelichting op uw Uniform Pensioenoverzicht",
                            "Wat betekenen de bedragen in uw UPO?"),
    "pensioen-faq.pdf": ("Veelgestelde vragen", "Antwoorden op vragen over uw pensioen."),
    "zorg-toelichting.pdf": ("Toelichting pensioenregeling zorg", "Uw regeling in het kort."),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (title, body) in DOCUMENTS.items():
        pdf = FPDF()
        pdf.set_title(title)
        pdf.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))  # reproducible
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 7, body, new_x="LMARGIN", new_y="NEXT")
        pdf.output(str(OUT / name))
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
