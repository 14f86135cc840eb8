"""Composing attachments: BBX's PDF/A-keeping merge (pikepdf/qpdf) beside plain pypdf.

Run: .venv/bin/python bench/bench_pdf_compose.py [--repeat N]

Two merges that BBX does (attachments.py): the 3 standard PDFs of the sample's UPO2026
into one (once per message type), and rule 3 — a personal PDF appended with the merged
standard PDF (once per message that has 2 personal PDFs). Inputs: the sample standard
attachments (PDF/A-2b, config/sample/attachments) and a one-page personal PDF/A letter.
The baseline is the merge BBX did before (pypdf ``PdfWriter.append``), written out here
by hand and timed in the same run. Printed: ms per merge (median), output size, and
whether the output still claims PDF/A (XMP pdfaid) and has an OutputIntent.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from pypdf import PdfReader, PdfWriter

from bbx.domain.attachments import inspect_pdf, merge_pdfs

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "config" / "sample" / "attachments"
STANDARD = ["upo-toelichting.pdf", "pensioen-faq.pdf", "privacyverklaring.pdf"]


def pypdf_merge(contents: list[bytes]) -> bytes:
    """The baseline: what attachments.merge_pdfs did with pypdf."""
    writer = PdfWriter()
    for content in contents:
        writer.append(PdfReader(io.BytesIO(content), strict=False))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def personal_letter() -> bytes:
    from fpdf import FPDF

    pdf = FPDF(enforce_compliance="PDF/A-2B")
    pdf.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))
    pdf.add_font("Letter", "", "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
    pdf.add_page()
    pdf.set_font("Letter", size=11)
    pdf.multi_cell(0, 6, "Geachte heer, mevrouw,\n\n" + "Uw pensioenoverzicht voor 2026. " * 40)
    return bytes(pdf.output())


def timed(merge, contents: list[bytes], repeat: int) -> tuple[float, bytes]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = merge(contents)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, out


def describe(data: bytes) -> str:
    info = inspect_pdf(data)
    intents = "/OutputIntents" in PdfReader(io.BytesIO(data)).trailer["/Root"]
    claim = f"PDF/A-{info.pdfa_part}" if info.pdfa_part else "no PDF/A claim"
    return f"{len(data):>7,} bytes, {claim}, OutputIntent {'yes' if intents else 'no'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    standard = [(SAMPLES / name).read_bytes() for name in STANDARD]
    merged_standard = merge_pdfs(standard)
    cases = {
        "3 standard PDFs -> 1 (per message type)": standard,
        "personal + merged standard (rule 3, per message)": [personal_letter(), merged_standard],
    }
    print(f"inputs: {', '.join(f'{n} {len(c):,} B' for n, c in zip(STANDARD, standard, strict=True))}")
    print(f"median of {args.repeat} runs each\n")
    for name, contents in cases.items():
        print(name)
        for label, merge in (("pikepdf (BBX)", merge_pdfs), ("pypdf (baseline)", pypdf_merge)):
            ms, out = timed(merge, contents, args.repeat)
            print(f"  {label:<17} {ms:7.2f} ms   {describe(out)}")
        print()


if __name__ == "__main__":
    main()
