"""Reading the list files tenants really produce (pure: bytes in, rows out).

Accepted: separator ``;``, ``,`` or tab (detected from the first line, or given in the
manifest); UTF-8 with or without BOM, UTF-16 with BOM (Excel "Unicode text") and
Windows-1252 (Excel "CSV" on Dutch Windows); CRLF, LF or CR line ends; a header line
or none; quoted fields (with ``;`` or line breaks inside); stray spaces around values.

Columns (by header name, any case; or by position when there is no header):

=========  ======================================  ============================
position   header names                            meaning
=========  ======================================  ============================
1          bsn, burgerservicenummer                the citizen (required)
2          tekst, text, berichttekst, bericht      personal text (optional)
3          onderwerp, subject                      personal subject (optional)
4          referentie, reference, kenmerk          reference (optional)
any        ``((naam))``                            the value of a placeholder of the
                                                   standard text (bbx.domain.templates)
=========  ======================================  ============================

A file with only the BSN column is a BSN list (the message type's standard text for
all). Files are read twice (once to check the encoding, once for the rows) through an
``open_file`` callable, so a million-row list is streamed, never held in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from bbx.i18n import _

COLUMNS = ("bsn", "text", "subject", "reference")
VALUE_COLUMN = re.compile(r"\(\(\s*[a-z0-9_-]+\s*\)\)")  # a header ((naam)): a placeholder's value
HEADER_NAMES = {
    "bsn": "bsn", "burgerservicenummer": "bsn", "bsn-nummer": "bsn", "bsnnummer": "bsn", "bsn_nummer": "bsn",
    "tekst": "text", "text": "text", "berichttekst": "text", "bericht": "text", "bericht_tekst": "text",
    "onderwerp": "subject", "subject": "subject",
    "referentie": "reference", "reference": "reference", "kenmerk": "reference", "ref": "reference",
    # the extra columns of BBX's error report: ignored, so a corrected report can be uploaded again
    "row": "", "reason": "", "regel": "", "reden": "",
}
#: The columns BBX adds to its error report (``row``, ``reason``; Dutch ``regel``, ``reden``):
#: in a corrected report that is uploaded again they are ignored, and left out of the next
#: report (which adds its own).
REPORT_COLUMNS = ("row", "reason", "regel", "reden")
_CHUNK = 1024 * 1024
def _binary_magic() -> tuple[tuple[bytes, str], ...]:
    return (
        (b"PK\x03\x04", _("an Excel workbook (.xlsx) or another ZIP file: in Excel use Save as → CSV (semicolon "
                          "separated)")),
        (b"\xd0\xcf\x11\xe0", _("an old Excel (.xls) or Word document: in Excel use Save as → CSV (semicolon "
                                 "separated)")),
        (b"%PDF-", _("a PDF: personal PDFs must be named <BSN>_1.pdf")),
    )

OpenFile = Callable[[], BinaryIO]


class TableError(ValueError):
    """The file cannot be read as a list at all (a drop-level problem)."""


@dataclass(frozen=True)
class Table:
    """How to read one list file; rows come from :func:`rows`."""

    file_name: str
    encoding: str  # Python codec name
    separator: str | None  # None: one column, no separator
    header: tuple[str, ...] | None  # the tenant's header as written (None: no header line)
    columns: tuple[str, ...]  # canonical column per position (see COLUMNS); "" = ignored

    @property
    def is_bsn_list(self) -> bool:
        return [c for c in self.columns if c] == ["bsn"]

    @property
    def report_header(self) -> tuple[str, ...]:
        """Column names for the error report: the tenant's own (without BBX's own report
        columns of an earlier report), or ours by position."""
        if self.header is None:
            return self.columns
        return tuple(self.header[i] for i in self._report_positions)

    @property
    def _report_positions(self) -> tuple[int, ...]:
        header = self.header or ()
        return tuple(i for i, name in enumerate(header) if name.strip().lower() not in REPORT_COLUMNS)

    def report_fields(self, fields: list[str]) -> list[str]:
        """A row's fields as they go into the error report (matching :attr:`report_header`):
        the values under BBX's own earlier ``row``/``reason`` columns left out."""
        if self.header is None or len(self._report_positions) == len(self.header):
            return list(fields)
        kept = [fields[i] if i < len(fields) else "" for i in self._report_positions]
        return kept + list(fields[len(self.header):])  # fields beyond the header stay visible


class Row(NamedTuple):
    """One record (a named tuple: a million-row list makes a million of them, issue 17)."""

    number: int  # the record's number in the file, 1 = first line (as Excel numbers rows)
    fields: list[str]


def detect_encoding(file_name: str, open_file: OpenFile) -> str:
    """The file's encoding: reads it once, in chunks. Raises TableError when it is not text."""
    with open_file() as stream:
        head = stream.read(_CHUNK)
        for magic, what in _binary_magic():
            if head.startswith(magic):
                raise TableError(_("this is not a text list but {what}", what=what))
        if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
            return "utf-16"
        encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        cp1252_ok = True
        offset = 0
        chunk = head
        utf8_ok = True
        nul = _NulFinder()
        while chunk:
            nul.feed(chunk)
            if nul.count:
                chunk = stream.read(_CHUNK)
                continue  # only counting from here: the file is refused below
            if utf8_ok:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8_ok = False
            if not utf8_ok and cp1252_ok:
                try:
                    chunk.decode("cp1252")
                except UnicodeDecodeError as exc:
                    cp1252_ok = False
                    bad = chunk[exc.start]
                    bad_at = offset + exc.start
            offset += len(chunk)
            chunk = stream.read(_CHUNK)
        if nul.count:
            raise TableError(nul.problem())
        if utf8_ok:
            try:
                decoder.decode(b"", final=True)
                return encoding
            except UnicodeDecodeError:
                utf8_ok = False
        if cp1252_ok:
            return "cp1252"
        raise TableError(
            _("the file is neither UTF-8 nor Windows-1252 text (byte {byte} at position {position}): save the list "
              "as CSV UTF-8", byte="0x" + format(bad, "02X"), position=format(bad_at, ",")))


class _NulFinder:
    """Where the NUL bytes of a file are (line and column of the first, how many), read
    chunk by chunk: one NUL rejects the list, so the tenant must be able to find it."""

    def __init__(self):
        self.count = 0
        self.line = 1  # line of the current position (LF, CR LF or CR end a line)
        self.line_start = b""  # the bytes of the current line so far (up to the first NUL)
        self.first: tuple[int, int] | None = None
        self._cr_pending = False

    def feed(self, chunk: bytes) -> None:
        if self.first is None:
            at = chunk.find(b"\x00")
            before = chunk if at < 0 else chunk[:at]
            if self._cr_pending and before.startswith(b"\n"):
                before = before[1:]
            breaks = before.count(b"\n") + before.replace(b"\r\n", b"\n").count(b"\r")
            self.line += breaks
            last = max(before.rfind(b"\n"), before.rfind(b"\r"))
            self.line_start = before[last + 1:] if last >= 0 else self.line_start + before
            self._cr_pending = before.endswith(b"\r")
            if at >= 0:
                column = len(self.line_start.decode("utf-8", errors="replace")) + 1
                self.first = (self.line, column)
        self.count += chunk.count(b"\x00")

    def problem(self) -> str:
        line, column = self.first
        return _("the file contains {n} NUL byte(s) (the first on line {line}, column {column}), so it is not a "
                 "text list: remove them, or save the list again as CSV text", n=format(self.count, ","), line=line,
                 column=column)


def _text_stream(open_file: OpenFile, encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(open_file(), encoding=encoding, newline="")


def _count_outside_quotes(line: str, char: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == char and not quoted:
            count += 1
    return count


def detect_separator(first_line: str) -> str | None:
    """``;`` before tab before ``,``: the first that occurs (outside quotes) in the first line."""
    for candidate in (";", "\t", ","):
        if _count_outside_quotes(first_line, candidate):
            return candidate
    return None


def _one_value(line: str) -> str:
    """The value of a line of a one-column file: line end, stray spaces and quotes removed."""
    return line.strip().strip('"')


def _reader(stream: io.TextIOWrapper, separator: str | None):
    if separator is None:
        # One column: a plain line reader (quotes still removed) is faster than csv.
        return ([_one_value(line)] for line in stream)
    return csv.reader(stream, delimiter=separator, quotechar='"', skipinitialspace=True, strict=False)


def _looks_like_header(first_field: str) -> bool:
    value = first_field.strip().strip('"').lstrip("\ufeff")
    return any(ch.isalpha() for ch in value)


def open_table(file_name: str, open_file: OpenFile, separator: str | None = None) -> Table:
    """Inspect a list file: encoding, separator, header and columns. Raises TableError."""
    encoding = detect_encoding(file_name, open_file)
    with _text_stream(open_file, encoding) as stream:
        first_line = ""
        for line in stream:
            if line.strip():
                first_line = line
                break
    if not first_line:
        raise TableError(_("the file holds no rows (only empty lines)"))
    if separator is None:
        separator = detect_separator(first_line)
    with _text_stream(open_file, encoding) as stream:
        first = next((rec for rec in _reader(stream, separator) if any(f.strip() for f in rec)), [])
    first = [f.strip().lstrip("\ufeff") for f in first]
    if _looks_like_header(first[0] if first else ""):
        columns = []
        problems = []
        for position, name in enumerate(first, 1):
            key = name.strip().lower()
            canonical = HEADER_NAMES.get(key)
            if key == "":
                canonical = ""  # an empty column name (Excel's extra separator): ignored
            elif VALUE_COLUMN.fullmatch(key):
                canonical = key.replace(" ", "")  # a placeholder's value: ((naam)), bbx.domain.templates
            if canonical is None:
                problems.append(_("column {position} '{name}' is not a known column", position=position, name=name))
            elif canonical and canonical in columns:
                problems.append(_("column {position} '{name}' repeats the {column} column", position=position,
                                  name=name, column=canonical))
            columns.append(canonical or "")
        if problems or "bsn" not in columns:
            if "bsn" not in columns:
                problems.append(_("there is no BSN column"))
            raise TableError(
                _("the header line is not understood: {problems}. Known columns: bsn, tekst (text), onderwerp "
                  "(subject), referentie (reference), and ((name)) for the value of a placeholder of the standard "
                  "text", problems="; ".join(problems)))
        return Table(file_name, encoding, separator, tuple(first), tuple(columns))
    width = len(first)
    while width > 1 and not first[width - 1]:
        width -= 1  # trailing empty fields (Excel's extra separators)
    if width > len(COLUMNS):
        raise TableError(
            _("the first line has {n} columns and there is no header line; without a header the columns are: bsn, "
              "text, subject, reference. Add a header line or remove columns", n=width))
    return Table(file_name, encoding, separator, None, COLUMNS[:max(width, 1)])


def rows(table: Table, open_file: OpenFile) -> Iterator[Row]:
    """Every non-empty record of the file, with its number; the header line is skipped.

    A number counts records the way a spreadsheet counts rows: the header is row 1,
    an empty line is a row too (but not yielded); a quoted field with line breaks is
    one row.
    """
    if table.separator is None:
        for number, value in values(table, open_file):
            yield Row(number, [value])
        return
    with _text_stream(open_file, table.encoding) as stream:
        header_pending = table.header is not None
        for number, record in enumerate(_reader(stream, table.separator), 1):
            if not record or not any(field.strip() for field in record):
                continue
            if header_pending:
                header_pending = False
                continue
            yield Row(number, record)


def values(table: Table, open_file: OpenFile) -> Iterator[tuple[int, str]]:
    """(number, value) of every non-empty record of a one-column file (``table.separator``
    None), numbered as :func:`rows` does: its rows without an object per row, for the
    million-row BSN list (issue 17)."""
    if table.separator is not None:
        raise ValueError(f"{table.file_name} has more than one column: read it with rows()")
    with _text_stream(open_file, table.encoding) as stream:
        lines = enumerate(stream, 1)
        if table.header is not None:
            for _number, line in lines:
                if _one_value(line).strip():
                    break  # the header line
        for number, line in lines:
            value = line.strip().strip('"')  # _one_value, inlined: once per row of the list
            if value and not value.isspace():
                yield number, value
