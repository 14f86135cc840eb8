"""The one CSV dialect of every file BBX writes for a tenant, and the formula guard.

Dialect (every CSV in a tenant's ``outbox/``: error reports, result files, undeliverable
lists, register exports): UTF-8 with a BOM (so Excel reads accents), ``;`` between
fields (what Dutch Excel expects), CR LF line ends, double quotes only where needed,
a header line.

Formula guard (OWASP, "CSV Injection"): a spreadsheet runs a cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a CR as a formula. Such a cell is written with a
``'`` in front, which a spreadsheet shows as text and does not run. Plain numbers
(``-12``, ``+3.5``) are left as they are: a spreadsheet reads them as numbers, not
formulas; BSNs are nine digits and never change. To get the raw value back, a reading
script applies :func:`unguard`: a cell that is one or more ``'`` followed by one of
those characters loses its first ``'`` (a value that itself started that way got an
extra ``'``, so this is exact).

Pure: no I/O; callers hand in the file handle or take the chunks.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator, Sequence

DELIMITER = ";"
LINE_END = "\r\n"
BOM = "\ufeff"
ENCODING = "utf-8-sig"  # writes the BOM; reads with or without one
DIALECT = {"delimiter": DELIMITER, "quotechar": '"', "lineterminator": LINE_END, "quoting": csv.QUOTE_MINIMAL}
#: For PostgreSQL ``COPY … TO STDOUT (…)`` of a file in this dialect (see :func:`from_copy`).
COPY_OPTIONS = f"FORMAT csv, HEADER, DELIMITER '{DELIMITER}'"

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_GUARD = re.compile(r"'*[=+\-@\t\r]")
_GUARDED = re.compile(r"'+[=+\-@\t\r]")
_FIRST = frozenset("=+-@\t\r'")  # fast path: most cells start otherwise
#: A plain number, which the guard leaves alone; ``D`` stands for one decimal digit (any
#: Unicode digit, as ``re``'s ``\d``). One shape for :func:`guard` and for the result file
#: that PostgreSQL writes (``bbx.store.result_files``).
NUMBER_SHAPE = r"[+-]?(D+([.,]D+)?|[.,]D+)"
_NUMBER = re.compile(NUMBER_SHAPE.replace("D", r"\d"))
#: A cell holding one of these is written in quotes (``QUOTE_MINIMAL``: the delimiter,
#: the quote, a line end), a quote inside doubled.
QUOTE_IF_ANY = DELIMITER + '"' + LINE_END


def guard(value: object) -> str:
    """One cell as written: ``None`` → empty; a formula-like text gets a leading ``'``."""
    if value is None:
        return ""
    cell = value if isinstance(value, str) else str(value)
    if cell[:1] in _FIRST and _NEEDS_GUARD.match(cell) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def unguard(cell: str) -> str:
    """The raw value of a cell BBX wrote (the inverse of :func:`guard`)."""
    return cell[1:] if _GUARDED.match(cell) else cell


def is_safe(cell: str) -> bool:
    """True when a spreadsheet would not run ``cell`` as a formula (the OWASP rule)."""
    return not cell.startswith(FORMULA_START) or bool(_NUMBER.fullmatch(cell))


class Writer:
    """``csv.writer`` in BBX's dialect with every cell guarded."""

    def __init__(self, handle):
        self._writer = csv.writer(handle, **DIALECT)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([guard(v) for v in row])


def writer(handle) -> Writer:
    """A writer on a text handle opened with ``encoding=ENCODING, newline=""``."""
    return Writer(handle)


@functools.cache
def decimal_digits() -> str:
    """Every character ``re``'s ``\\d`` matches (Unicode category Nd), for a shape outside ``re``."""
    return "".join(c for c in map(chr, range(0x20000)) if c.isdecimal())


def head(header: Sequence[str]) -> bytes:
    """The start of a file: the BOM and the header line."""
    buffer = io.StringIO()
    writer(buffer).writerow(header)
    return (BOM + buffer.getvalue()).encode("utf-8")


def with_head(header: Sequence[str], lines: Iterable[bytes]) -> Iterator[bytes]:
    """A whole file from its header and its rows' lines, already in this dialect (as
    ``bbx.store.result_files`` has PostgreSQL write them)."""
    yield head(header)
    yield from lines


def chunks(rows: Iterable[Sequence[object]], header: Sequence[str], *, every: int = 2000) -> Iterator[bytes]:
    """A whole file (BOM, header, rows) as UTF-8 byte chunks of ``every`` rows:
    constant memory for any number of rows."""
    buffer = io.StringIO()
    out = writer(buffer)
    yield head(header)
    for i, row in enumerate(rows, 1):
        out.writerow(row)
        if i % every == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def from_copy(copy_chunks: Iterable[bytes]) -> Iterator[bytes]:
    """PostgreSQL ``COPY … (COPY_OPTIONS)`` output made this dialect: a BOM first and CR LF
    line ends (COPY writes LF). Only for values without line breaks or formula starts
    (digits and ISO dates, as the register export has: the guard has nothing to do)."""
    yield BOM.encode()
    for chunk in copy_chunks:
        yield bytes(chunk).replace(b"\n", b"\r\n")
