"""Reading real office files (pure): encodings, separators, headers, line ends, quotes."""

import codecs
import io

import pytest

from bbx.domain.drop_tables import Table, TableError, detect_separator, open_table, rows


def read(data: bytes, separator: str | None = None) -> tuple[Table, list[tuple[int, list[str]]]]:
    opener = lambda: io.BytesIO(data)  # noqa: E731
    table = open_table("list.csv", opener, separator)
    return table, [(r.number, r.fields) for r in rows(table, opener)]


def test_bsn_list_one_column_no_header_lf():
    table, got = read(b"123456782\n010000008\n")
    assert (table.encoding, table.separator, table.header, table.columns) == ("utf-8", None, None, ("bsn",))
    assert table.is_bsn_list
    assert got == [(1, ["123456782"]), (2, ["010000008"])]


def test_excel_dutch_csv_windows_1252_semicolon_crlf_header_and_stray_spaces():
    data = "BSN ; Tekst ;Onderwerp\r\n 123456782 ; Geachte heer Müller, uw €50 ; Brief \r\n\r\n10000008;\"Regel 1\r\nRegel 2; met puntkomma\";\r\n"
    table, got = read(data.encode("cp1252"))
    assert (table.encoding, table.separator) == ("cp1252", ";")
    assert table.header == ("BSN", "Tekst", "Onderwerp") and table.columns == ("bsn", "text", "subject")
    assert got[0] == (2, ["123456782 ", "Geachte heer Müller, uw €50 ", "Brief "])
    # the empty line is row 3; the quoted text keeps its line break and semicolon
    assert got[1] == (4, ["10000008", "Regel 1\r\nRegel 2; met puntkomma", ""])


def test_utf8_with_bom_comma_separated_cr_only_line_ends():
    data = codecs.BOM_UTF8 + "bsn,tekst\r123456782,één\r".encode()
    table, got = read(data)
    assert (table.encoding, table.separator, table.columns) == ("utf-8-sig", ",", ("bsn", "text"))
    assert got == [(2, ["123456782", "één"])]


def test_utf16_excel_unicode_text_is_tab_separated():
    data = "bsn\ttekst\r\n123456782\tHallo\r\n".encode("utf-16")
    table, got = read(data)
    assert (table.encoding, table.separator) == ("utf-16", "\t")
    assert got == [(2, ["123456782", "Hallo"])]


def test_no_header_columns_by_position_and_trailing_separator_ignored():
    table, got = read(b"123456782;Tekst;Onderwerp;REF-1;\n")
    assert table.columns == ("bsn", "text", "subject", "reference")
    assert got == [(1, ["123456782", "Tekst", "Onderwerp", "REF-1", ""])]
    table, _ = read(b"123456782;\n010000008;\n")  # Excel's extra separator on a BSN list
    assert table.columns == ("bsn",)


def test_manifest_separator_wins_over_detection():
    table, got = read(b"bsn,tekst\n123456782,Hallo; daar\n", separator=",")
    assert got == [(2, ["123456782", "Hallo; daar"])]
    assert detect_separator('123;"a,b"') == ";"
    assert detect_separator('123,"a;b"') == ","  # separators inside quotes do not count


def test_error_report_columns_are_ignored_when_uploaded_again():
    table, got = read(b"bsn;tekst;row;reason\n123456782;Hallo;3;BSN fails the 11-test\n")
    assert table.columns == ("bsn", "text", "", "")
    assert got == [(2, ["123456782", "Hallo", "3", "BSN fails the 11-test"])]


@pytest.mark.parametrize(("data", "expected"), [
    (b"PK\x03\x04rest-of-xlsx", "an Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1", "an old Excel (.xls)"),
    (b"%PDF-1.7\n", "a PDF"),
    (b"123\x00456\n", "1 NUL byte(s) (the first on line 1, column 4)"),
    (b"123456782\n\x81\x8d\x8f\n", "neither UTF-8 nor Windows-1252 text (byte 0x81 at position 10)"),
    (b"\n\r\n  \n", "holds no rows"),
    (b"bsn;naam;tekst\n123456782;Jan;x\n", "column 2 'naam' is not a known column"),
    (b"tekst;onderwerp\nx;y\n", "there is no BSN column"),
    (b"bsn;tekst;text\n", "column 3 'text' repeats the text column"),
    (b"123456782;a;b;c;d\n", "the first line has 5 columns and there is no header line"),
])
def test_files_that_are_no_list_get_a_specific_reason(data, expected):
    with pytest.raises(TableError) as caught:
        read(data)
    assert expected in str(caught.value)


def test_a_million_rows_are_streamed_not_loaded(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w") as handle:
        for n in range(200_000):
            handle.write(f"{n:09d}\n")
    opener = lambda: open(path, "rb")  # noqa: E731
    table = open_table("big.csv", opener)
    count = sum(1 for _ in rows(table, opener))
    assert count == 200_000
