"""Checking a drop row by row (pure): every problem gets its specific reason, all at once."""

import io

import pytest
from intake_helpers import pdf
from pypdf import PdfReader, PdfWriter

from bbx.domain import attachments as att
from bbx.domain import bsn
from bbx.domain.drop import NOTHING_TO_SEND, ListedFile, classify, parse_marker
from bbx.domain.drop_check import PDF_SOURCE, DropCheck, Earlier, MessageTypeInfo, clean_text

B = list(bsn.generate(12, seed=7))
WITH_TEXT = MessageTypeInfo("PASPRT", "Uw paspoort verloopt", has_standard_text=True)
NO_TEXT = MessageTypeInfo("WOZ2026", "Uw WOZ-beschikking", has_standard_text=False)


def check(files: dict[str, bytes], marker: bytes = b"message_type: PASPRT\n") -> DropCheck:
    files = {**files, "READY": marker}
    listed = [classify(ListedFile(name, len(data))) for name, data in files.items()]
    return DropCheck(parse_marker("READY", marker), listed, lambda name: io.BytesIO(files[name])).scan()


def verdicts(drop: DropCheck, message_type=WITH_TEXT, standard=None, already=None) -> dict[int, list[str]]:
    return {r.row.number: r.reasons for r in drop.check_rows(message_type, standard, already or {})}


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf())))
    writer.encrypt("geheim")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_bsn_problems_duplicates_and_earlier_hand_ins():
    lines = ["bsn", B[0], B[1], "123456789", "12345", "", B[0], f" {int(B[2])} ", "abc123", B[3]]
    drop = check({"bsns.csv": "\r\n".join(lines).encode()})
    assert drop.problems == []
    assert drop.rows_total == 8 and list(drop.bsns) == [B[0], B[1], B[2], B[3]]
    got = verdicts(drop, already={B[3]: Earlier(41, "2026-03-02")})
    assert got == {
        2: [], 3: [],
        4: ["BSN fails the 11-test (elfproef): check for a typing error"],
        5: ["BSN must have 9 digits, found 5"],
        7: ["the BSN is also on row 2 of bsns.csv: each BSN only once per drop"],
        8: [],
        9: ["BSN must contain digits only"],
        10: ["already handed in for message type PASPRT in submission 41 of 2026-03-02: it is not sent again"],
    }


def test_eight_digit_bsns_are_repaired_and_reported_in_a_note():
    eight = bsn.generate(2, start=10_000_000)
    values = [b[1:] for b in eight]
    drop = check({"bsns.csv": "\n".join(values).encode()})
    results = list(drop.check_rows(WITH_TEXT, None, {}))
    assert [r.bsn for r in results] == ["0" + v for v in values]
    assert all(r.accepted for r in results)
    assert drop.notes() == ["2 BSN(s) had 8 digits; BBX added the leading zero that spreadsheets remove "
                            "(bsns.csv row 1, bsns.csv row 2). Format the BSN column as text to avoid this."]


def test_texts_subjects_references_lengths_line_breaks_and_control_characters():
    long_text = "x" * 3999 + "\n"  # 4000 characters, but the line break becomes CR LF: 4001
    rows = [
        "bsn;tekst;onderwerp;referentie",
        f'{B[0]};"Regel 1\nRegel 2";Kort;REF-1',
        f'{B[1]};"{long_text}y";;',
        f"{B[2]};tekst;{'o' * 51};{'r' * 26}",
        f"{B[3]};bel\x07;;",
        f"{B[4]};tekst;onderwerp;ref;extra",
    ]
    drop = check({"teksten.csv": "\n".join(rows).encode()})
    results = {r.row.number: r for r in drop.check_rows(WITH_TEXT, None, {})}
    assert results[2].accepted and results[2].text == "Regel 1\r\nRegel 2"
    assert (results[2].subject, results[2].reference) == ("Kort", "REF-1")
    assert results[3].reasons == ["the text is 4,002 characters (line breaks count as 2: CR LF); at most 4,000 are allowed"]
    assert results[4].reasons == ["the subject is 51 characters; at most 50 are allowed",
                                  "the reference is 26 characters; at most 25 are allowed"]
    assert results[5].reasons == ["the text contains a control character (U+0007) at position 4"]
    assert results[6].reasons == ["the row has 5 fields but the file has 4 column(s): put texts with a "
                                  "separator in double quotes"]


def test_message_type_without_standard_text_needs_a_personal_text_or_pdf():
    drop = check({"teksten.csv": f"bsn;tekst\n{B[0]};Hallo\n{B[1]};\n".encode()}, b"message_type: WOZ2026\n")
    assert verdicts(drop, NO_TEXT) == {
        2: [], 3: ["message type WOZ2026 has no standard text: give a personal text or a personal PDF for this BSN"]}


def test_personal_pdfs_are_opened_counted_and_matched():
    files = {
        "bsns.csv": "\n".join(B[:8]).encode(),
        f"{B[0]}_1.pdf": pdf("een"), f"{B[0]}_2.PDF": pdf("twee"),  # fine: 2 PDFs
        f"{B[1]}_1.pdf": b"Dit is geen PDF maar tekst",
        f"{B[2]}_1.pdf": b"PK\x03\x04 word document",
        f"{B[3]}_1.pdf": encrypted_pdf(),
        f"{B[4]}_1.pdf": pdf()[:300],  # cut off: damaged
        f"{B[5]}_2.pdf": pdf(),  # _2 without _1
        # B[6] has no PDF although the drop has PDFs (1-2 per BSN by default)
        f"{B[7]}_1.pdf": b"",  # empty
    }
    drop = check(files)
    assert drop.problems == []
    got = verdicts(drop)
    assert got[1] == []
    assert got[2] == [f"personal PDF {B[1]}_1.pdf: not a PDF: the file does not start with a PDF header "
                      "(%PDF-); export or print the document as PDF"]
    assert got[3] == [f"personal PDF {B[2]}_1.pdf: not a PDF: the file is a ZIP archive (for example a Word "
                      ".docx or Excel .xlsx file); export or print it as PDF"]
    assert got[4] == [f"personal PDF {B[3]}_1.pdf: the PDF is encrypted or password-protected; MijnOverheid "
                      "cannot show it: save it again without a password or restrictions"]
    assert got[5][0].startswith(f"personal PDF {B[4]}_1.pdf: the PDF is damaged and cannot be opened")
    assert got[6] == [f"{B[5]}_2.pdf has no {B[5]}_1.pdf: number the PDFs _1 and _2"]
    assert got[7] == [f"no personal PDF for this BSN: {B[6]}_1.pdf is missing; the drop holds personal PDFs, so "
                      "every BSN needs one (write pdfs_per_bsn: 0-2 in the marker when some BSNs have none)"]
    assert got[8] == [f"personal PDF {B[7]}_1.pdf: the file is empty (0 bytes): upload the PDF again"]
    accepted = next(r for r in drop.check_rows(WITH_TEXT, None, {}) if r.number == 1)
    assert [(p.position, p.file_name) for p in accepted.pdfs] == [(1, f"{B[0]}_1.pdf"), (2, f"{B[0]}_2.PDF")]


def test_pdf_rules_from_the_marker():
    files = {"bsns.csv": "\n".join(B[:3]).encode(), f"{B[0]}_1.pdf": pdf(), f"{B[1]}_1.pdf": pdf(),
             f"{B[1]}_2.pdf": pdf(), f"{B[1]}_3.pdf": pdf()}
    drop = check(files, b"message_type: PASPRT\npdfs_per_bsn: 0-2\n")
    got = verdicts(drop)
    assert got[1] == [] and got[3] == []  # B[2] may go without a PDF
    assert got[2] == [f"3 personal PDFs ({B[1]}_1.pdf, {B[1]}_2.pdf, {B[1]}_3.pdf); at most 2 per BSN, "
                      "numbered _1 and _2"]
    drop = check({"bsns.csv": B[0].encode(), f"{B[0]}_1.pdf": pdf()}, b"message_type: PASPRT\npdfs_per_bsn: 2\n")
    assert verdicts(drop)[1] == [f"only 1 personal PDF for this BSN but pdfs_per_bsn is 2: {B[0]}_2.pdf is missing"]
    drop = check({"bsns.csv": B[0].encode(), f"{B[0]}_1.pdf": pdf()}, b"message_type: PASPRT\npdfs_per_bsn: 0\n")
    assert [p.text() for p in drop.problems] == [
        "READY: pdfs_per_bsn is 0 but the drop holds 1 personal PDF(s): remove the PDFs or set pdfs_per_bsn"]


def test_attachments_that_cannot_fit_in_one_message_are_rejected_with_the_sizes():
    standard = att.prepare_standard_set([att.SourcePdf("Folder", pdf("folder", padding=150_000))])
    files = {"bsns.csv": "\n".join(B[:2]).encode(), f"{B[0]}_1.pdf": pdf(padding=200_000),
             f"{B[1]}_1.pdf": pdf(padding=400_000)}
    got = verdicts(check(files), standard=standard)
    assert got[1] == []  # personal + standard, together under 500 kB
    assert got[2][0].startswith("the attachments of this message are ")
    assert "MijnOverheid accepts at most 500 kB per message" in got[2][0]


def test_orphan_pdfs_and_drops_without_content_are_drop_level_problems():
    drop = check({"bsns.csv": B[0].encode(), f"{B[0]}_1.pdf": pdf(), f"{B[9]}_1.pdf": pdf()})
    assert [p.file for p in drop.problems] == [f"{B[9]}_1.pdf"]
    assert "no row of the drop's list has this BSN (an orphan PDF)" in drop.problems[0].reason
    assert [(p.text(), p.kind) for p in check({}).problems] == [
        ("the drop holds no list file and no personal PDFs: nothing to send", NOTHING_TO_SEND)]
    assert [p.text() for p in check({"bsns.csv": b"bsn\r\n\r\n"}).problems] == [
        "the drop's list holds no rows (only a header or empty lines)"]
    assert [p.text() for p in check({"bsns.xlsx": b"PK"}).problems][0].startswith("bsns.xlsx: unknown file")


def test_a_pdf_only_drop_has_one_row_per_bsn():
    drop = check({f"{B[1]}_1.pdf": pdf(), f"{B[1]}_2.pdf": pdf(), f"{B[0]}_1.pdf": b"nope"})
    assert drop.problems == [] and drop.rows_total == 2
    results = list(drop.check_rows(WITH_TEXT, None, {}))
    assert [(r.source, r.row.number, r.bsn, r.accepted) for r in results] == [
        (PDF_SOURCE, 1, B[0], False), (PDF_SOURCE, 2, B[1], True)]
    assert results[0].row.fields == [B[0], f"{B[0]}_1.pdf"]
    assert drop.report_header(PDF_SOURCE) == ("bsn", "files")


def test_several_lists_number_rows_through_and_report_per_file():
    drop = check({"a.csv": f"{B[0]}\n{B[1]}\n".encode(), "b.csv": f"bsn;tekst\n{B[1]};x\n{B[2]};y\n".encode()})
    results = list(drop.check_rows(WITH_TEXT, None, {}))
    assert [(r.number, r.source, r.row.number) for r in results] == [
        (1, "a.csv", 1), (2, "a.csv", 2), (3, "b.csv", 2), (4, "b.csv", 3)]
    assert results[2].reasons == ["the BSN is also on row 2 of a.csv: each BSN only once per drop"]
    assert drop.where(3) == ("b.csv", 2)


@pytest.mark.parametrize(("raw", "expected"), [
    ("  Hallo\r\nwereld \n", ("Hallo\r\nwereld", None)),
    ("a\rb", ("a\r\nb", None)),
    ("", (None, None)),
    ("tab\there", ("tab\there", None)),
])
def test_clean_text(raw, expected):
    assert clean_text(raw, "text", 4000, multiline=True) == expected


def test_an_empty_population_drop_names_its_own_problem_not_nothing_to_send():
    """A population list sends nothing by design: population.check drops DropCheck's
    "nothing to send" by its kind (not by its wording, which is translated) and names
    the list that is missing instead."""
    from bbx.intake import population

    marker = b"kind: population\nmode: full\n"
    files = {"READY": marker}
    listed = [classify(ListedFile(name, len(data))) for name, data in files.items()]
    _, problems = population.check(parse_marker("READY", marker), listed, lambda name: io.BytesIO(files[name]))
    assert [p.kind for p in problems] == [""]
    assert problems[0].reason.startswith("the drop holds no list file: a population drop holds one or more")


@pytest.mark.parametrize("kept_bytes", [None, 0])
def test_the_list_is_read_once_when_its_rows_fit_in_memory_and_again_when_not(monkeypatch, kept_bytes):
    """Pass 2 uses the rows pass 1 kept (issue 17); a list bigger than the budget is read
    again. Either way every row gets the same verdict."""
    from bbx.domain import drop_check

    if kept_bytes is not None:
        monkeypatch.setattr(drop_check, "KEEP_ROWS_BYTES", kept_bytes)
    one_column = "\r\n".join(["bsn", B[0], "123456789", "", B[0], f" {int(B[2])} ", B[3]]).encode()
    two_columns = "\r\n".join(["bsn;tekst", f"{B[4]};Beste", f'{B[0]};"twee; delen"', f"{B[5]};"]).encode()
    files = {"a.csv": one_column, "b.csv": two_columns, "READY": b"message_type: PASPRT\n"}
    opened: list[str] = []

    def open_file(name):
        opened.append(name)
        return io.BytesIO(files[name])

    listed = [classify(ListedFile(name, len(data))) for name, data in files.items()]
    drop = DropCheck(parse_marker("READY", files["READY"]), listed, open_file).scan()
    reads = {name: opened.count(name) for name in ("a.csv", "b.csv")}
    got = [(r.source, r.row.number, r.row.fields, r.reasons) for r in drop.check_rows(WITH_TEXT, None, {})]
    again = {name: opened.count(name) - reads[name] for name in reads}
    assert again == ({"a.csv": 0, "b.csv": 0} if kept_bytes is None else {"a.csv": 1, "b.csv": 1})
    assert got == [
        ("a.csv", 2, [B[0]], []),
        ("a.csv", 3, ["123456789"], ["BSN fails the 11-test (elfproef): check for a typing error"]),
        ("a.csv", 5, [B[0]], ["the BSN is also on row 2 of a.csv: each BSN only once per drop"]),
        ("a.csv", 6, [f"{int(B[2])}"], []),
        ("a.csv", 7, [B[3]], []),
        ("b.csv", 2, [B[4], "Beste"], []),
        ("b.csv", 3, [B[0], "twee; delen"], ["the BSN is also on row 2 of a.csv: each BSN only once per drop"]),
        ("b.csv", 4, [B[5], ""], []),
    ]
