"""Checking a drop: drop-level problems first, then every row, all reported at once.

Pure: files are read through an ``open_file(name)`` callable, the BSNs already handed
in come in as a mapping; nothing here touches SFTP or the database.

Two passes (the earlier hand-ins are asked for all BSNs at once between them); a list is
read from its file once, in pass 1, which keeps its rows for pass 2 while they fit in
``KEEP_ROWS_BYTES`` (a 1M-row BSN list does); a bigger one is read again, in constant memory:

1. :meth:`DropCheck.scan` — the files as a whole (names, encodings, headers, PDF names,
   orphan PDFs) and every row's BSN (to find duplicates and to ask the database, in one
   set-based query, which BSNs were handed in earlier for this message type);
2. :meth:`DropCheck.check_rows` — every row: BSN, duplicates, earlier hand-ins, text,
   subject and reference lengths, control characters, the personal PDFs (really PDF,
   readable, not encrypted, 1-2 per BSN) and whether they fit with the message type's
   standard attachments in one message (``bbx.domain.attachments``).

The rule: a problem of the drop as a whole rejects the whole drop (nothing of it is
sent, every problem is still reported); a problem of a row rejects that row only.

About 450 lines: the two passes share one object's state (the sources, the BSN
index); the rules they apply live in ``bbx.domain.rows``, ``drop`` and ``attachments``.
"""

from __future__ import annotations

import bisect
import hashlib
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import BinaryIO

from bbx.domain import attachments as att
from bbx.domain import bsn as bsn_rules
from bbx.domain import rows as row_rules
from bbx.domain import templates
from bbx.domain.drop import (
    DEFAULT_LIMITS,
    DEFAULT_WITH_PDFS,
    NOTHING_TO_SEND,
    DropFile,
    DropProblem,
    IntakeLimits,
    Manifest,
    PdfRule,
    sort_files,
)
from bbx.domain.drop_tables import Row, Table, TableError, open_table, rows, values
from bbx.domain.limits import MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE
from bbx.i18n import _
from bbx.i18n import number as count_text

PDF_SOURCE = "(personal PDFs)"
_VALID = bsn_rules.BsnCheck(None)  # marker: the raw value is a valid BSN as written  # the source name of rows that come from PDF names only
_NOTE_EXAMPLES = 10
#: Rows read in pass 1 are kept for pass 2 up to about this many bytes (a 1M-row BSN list
#: takes ~60 MB): the file is read once. A bigger drop is read again, in constant memory.
KEEP_ROWS_BYTES = 128 * 1024 * 1024
_KEPT_VALUE_BYTES = 60  # a one-column row: its list slot and str
_KEPT_ROW_BYTES = 140  # a Row, its list and list slot
_KEPT_FIELD_BYTES = 60  # a field's str and slot, besides its characters


@dataclass(frozen=True)
class MessageTypeInfo:
    code: str
    subject: str
    has_standard_text: bool
    standard_text: str | None = None  # a template (bbx.domain.templates) is filled per row


@dataclass(frozen=True)
class Earlier:
    """An earlier hand-in of the same BSN for the same message type."""

    submission_id: int
    received_at: date | datetime | str

    def text(self) -> str:
        when = self.received_at
        if isinstance(when, datetime):
            when = when.date()
        return _("submission {id} of {day}", id=self.submission_id, day=when)


@dataclass(frozen=True)
class PersonalPdf:
    position: int
    file_name: str
    content: bytes = field(repr=False)
    sha256: str


@dataclass(slots=True)
class RowResult:
    """One row handed in: accepted (``reasons`` empty) or rejected (with every reason)."""

    number: int  # row number within the submission (1..n over all sources)
    source: str  # the file the row came from
    row: Row  # its number in that file and the fields as written
    bsn: str | None
    reasons: list[str]
    text: str | None = None
    subject: str | None = None
    reference: str | None = None
    pdfs: tuple[PersonalPdf, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.reasons

    @property
    def reason(self) -> str | None:
        return "; ".join(self.reasons) if self.reasons else None


@dataclass
class _Source:
    name: str
    table: Table | None  # None: rows from personal PDF names
    offset: int = 0  # number of rows before this source
    file_rows: array = field(default_factory=lambda: array("I"))
    # its rows as read in pass 1 (a one-column row as its value), None: read again in pass 2
    kept: list | None = None

    @property
    def report_header(self) -> tuple[str, ...]:
        return self.table.report_header if self.table else ("bsn", "files")


def clean_text(raw: str | None, what: str, limit: int, *, multiline: bool) -> tuple[str | None, str | None]:
    """(value, problem): the one rule of every channel (:func:`bbx.domain.rows.clean`)."""
    cleaned = row_rules.clean(raw, what, limit, multiline=multiline)
    return cleaned.value, cleaned.problem.message if cleaned.problem else None


class DropCheck:
    """The checks of one drop. Call :meth:`scan`, then :meth:`check_rows` (or :meth:`raw_rows`)."""

    def __init__(self, manifest: Manifest, files: list[DropFile], open_file: Callable[[str], BinaryIO],
                 limits: IntakeLimits = DEFAULT_LIMITS, pdfa: str = att.DEFAULT_PDFA_POLICY):
        self.manifest = manifest
        self.pdfa = att.PdfaTally(pdfa)  # personal PDFs that are not PDF/A: noted, or refused (strict)
        self.files = files
        self.open_file = open_file
        self.limits = limits
        self.problems: list[DropProblem] = []
        self.sources: list[_Source] = []
        self.pdfs: dict[str, dict[int, DropFile]] = {}
        self.first_row: dict[str, int] = {}  # valid BSN → row number of its first occurrence
        self.rows_total = 0
        self.pdf_rule: PdfRule = DEFAULT_WITH_PDFS
        self.repaired: list[str] = []  # "file row N" of 8-digit BSNs repaired (examples)
        self.repaired_count = 0
        self.reformatted: list[str] = []  # "file row N" of BSNs written with dots or spaces (examples)
        self.reformatted_count = 0
        self.pdf_names: dict[str, list[str]] = {}  # the BSN part of every PDF name as written → names
        self._scanned = False

    # ------------------------------------------------------------------ pass 1
    def scan(self) -> DropCheck:
        plan = sort_files(self.files, self.limits)
        self.problems.extend(plan.problems)
        for pdf in plan.pdfs:
            self.pdfs.setdefault(pdf.bsn, {})[pdf.position] = pdf
        for file in self.files:
            if file.role == "pdf":  # also those refused for their name: a row's reason must know one was given
                self.pdf_names.setdefault(file.name.split("_", 1)[0], []).append(file.name)
        self.pdf_rule = self.manifest.pdf_rule(bool(plan.pdfs) or any(f.role == "pdf" for f in self.files))
        if self.pdf_rule.maximum == 0 and plan.pdfs:
            self.problems.append(DropProblem(
                self.manifest.marker,
                _("pdfs_per_bsn is 0 but the drop holds {n} personal PDF(s): remove the PDFs or set pdfs_per_bsn",
                  n=len(plan.pdfs))))
        for list_file in plan.lists:
            opener = self._opener(list_file.name)
            try:
                table = open_table(list_file.name, opener, self.manifest.separator)
            except TableError as exc:
                self.problems.append(DropProblem(list_file.name, str(exc)))
                continue
            self.sources.append(_Source(list_file.name, table))
        if not plan.lists and self.pdfs:
            self.sources.append(_Source(PDF_SOURCE, None))  # a PDF-only drop: one row per BSN
        if not any(f.role in ("list", "pdf") for f in self.files):
            self.problems.append(DropProblem(None, _("the drop holds no list file and no personal PDFs: nothing to send"),
                                             kind=NOTHING_TO_SEND))

        total = 0
        budget = [KEEP_ROWS_BYTES]
        for source in self.sources:
            source.offset = total
            total = self._scan_source(source, total, budget)
        self.rows_total = total
        if self.sources and total == 0 and not self.problems:
            self.problems.append(DropProblem(None, _("the drop's list holds no rows (only a header or empty lines)")))

        if any(s.table is not None for s in self.sources):
            for bsn, by_position in sorted(self.pdfs.items()):
                if bsn not in self.first_row:
                    for pdf in sorted(by_position.values(), key=lambda p: p.position):
                        self.problems.append(DropProblem(
                            pdf.name, _("no row of the drop's list has this BSN (an orphan PDF): add the BSN to "
                                        "the list or remove the PDF; check the BSN in the file name")))
        self._scanned = True
        return self

    def _scan_source(self, source: _Source, total: int, budget: list[int]) -> int:
        """Index the BSNs of one source (row number of each valid BSN's first occurrence)
        and keep its rows while they fit in ``budget`` (bytes, shared by the sources), so
        that pass 2 need not read the file again. Returns the row count so far."""
        eleven, check, first_row = bsn_rules.passes_eleven_test, bsn_rules.check, self.first_row
        add_number = source.file_rows.append
        if source.table is not None and source.table.separator is None:  # a BSN list: no Row per record
            # the loop of a million-row list, kept lean: its values kept as they are
            kept: list | None = []
            keep = kept.append
            room = max(budget[0] // _KEPT_VALUE_BYTES, 0)  # values that still fit
            for number, raw in values(source.table, self._opener(source.name)):
                total += 1
                add_number(number)
                if eleven(raw):  # the common case: a valid BSN as written
                    first_row.setdefault(raw, total)
                else:
                    checked = check(raw)
                    if checked.bsn is not None:
                        first_row.setdefault(checked.bsn, total)
                if room:
                    keep(raw)
                    room -= 1
                elif kept is not None:
                    kept = None  # too big: pass 2 reads the file again
            budget[0] = budget[0] - len(kept) * _KEPT_VALUE_BYTES if kept is not None else -1
            source.kept = kept
            return total
        kept = []
        for row in self._source_rows(source):
            raw = row.fields[0] if row.fields else ""
            total += 1
            add_number(row.number)
            if eleven(raw):
                first_row.setdefault(raw, total)
            else:
                checked = check(raw)
                if checked.bsn is not None:
                    first_row.setdefault(checked.bsn, total)
            if kept is not None:
                kept.append(row)
                budget[0] -= _KEPT_ROW_BYTES + sum(_KEPT_FIELD_BYTES + len(f) for f in row.fields)
                if budget[0] < 0:
                    kept = None  # too big: pass 2 reads the file again
        source.kept = kept
        return total

    def _opener(self, name: str) -> Callable[[], BinaryIO]:
        return lambda: self.open_file(name)

    def _source_rows(self, source: _Source) -> Iterator[Row]:
        if source.table is not None:
            yield from rows(source.table, self._opener(source.name))
            return
        for number, bsn in enumerate(sorted(self.pdfs), 1):
            names = " ".join(p.name for _pos, p in sorted(self.pdfs[bsn].items()))
            yield Row(number, [bsn, names])

    @property
    def bsns(self) -> Mapping[str, int]:
        """The valid BSNs of the drop, each once (for the earlier-hand-in query); a mapping
        BSN → row number of its first occurrence (iterating gives the BSNs)."""
        return self.first_row

    def where(self, number: int) -> tuple[str, int]:
        """(file, row in file) of the row with submission row number ``number``."""
        offsets = [s.offset for s in self.sources]
        index = bisect.bisect_right(offsets, number - 1) - 1
        source = self.sources[index]
        return source.name, source.file_rows[number - 1 - source.offset]

    def report_header(self, source_name: str) -> tuple[str, ...]:
        return next(s.report_header for s in self.sources if s.name == source_name)

    def report_fields(self, source_name: str, fields: list[str]) -> list[str]:
        """A row's fields for the error report, matching :meth:`report_header`."""
        source = next(s for s in self.sources if s.name == source_name)
        return source.table.report_fields(fields) if source.table else list(fields)

    # ------------------------------------------------------------------ pass 2
    def raw_rows(self) -> Iterator[tuple[int, str, Row]]:
        """(row number, file, row) of every row, in order, without checking them."""
        number = 0
        for source in self.sources:
            name = source.name
            for row in self._rows_of(source):
                number += 1
                yield number, name, row

    def _rows_of(self, source: _Source) -> Iterator[Row]:
        if source.kept is None:  # too big to keep: read again
            yield from self._source_rows(source)
            return
        file_rows = source.file_rows
        for index, item in enumerate(source.kept):
            yield item if type(item) is Row else Row(file_rows[index], [item])

    def check_rows(self, message_type: MessageTypeInfo | None, standard: att.StandardSet | None,
                   already: Mapping[str, Earlier]) -> Iterator[RowResult]:
        """Every row with its verdict. ``message_type`` None: unknown (the drop is rejected
        anyway; the content rules that need it are skipped)."""
        if not self._scanned:
            raise RuntimeError("call scan() first")
        standard = standard or att.StandardSet((), None)
        standard_only = att.compose(standard, []) if message_type else None
        # The common case of a big BSN list, fast: one valid 9-digit BSN as written, its first
        # occurrence, not handed in before, no PDFs to check, the standard content fits.
        quick = (message_type is not None and message_type.has_standard_text and standard_only.ok
                 and not templates.is_template(message_type.standard_text)
                 and not self.pdfs and self.pdf_rule.minimum == 0)
        first_row = self.first_row
        number = 0
        for source in self.sources:
            name = source.name
            if quick and source.kept is not None and source.table is not None and source.table.separator is None:
                # a kept BSN list (its values as read): the loop of a million-row list
                file_rows = source.file_rows
                for index, raw in enumerate(source.kept):
                    number += 1
                    row = Row(file_rows[index], [raw])
                    if first_row.get(raw) == number and raw not in already:
                        yield RowResult(number, name, row, raw, [])
                    else:
                        yield self._check_row(number, name, row, message_type, standard, standard_only, already)
                continue
            for row in self._rows_of(source):
                number += 1
                fields = row.fields
                if quick and len(fields) == 1:
                    raw = fields[0]
                    if first_row.get(raw) == number and raw not in already:
                        yield RowResult(number, name, row, raw, [])
                        continue
                yield self._check_row(number, name, row, message_type, standard, standard_only, already)

    def check_bsn_rows(self) -> Iterator[RowResult]:
        """Every row of a BSN-only list (a population, bbx.domain.population): the BSN rules
        and "each BSN once" only, nothing is sent. The common row (a valid 9-digit BSN as
        written, its first occurrence) is accepted without a second look."""
        if not self._scanned:
            raise RuntimeError("call scan() first")
        standard, first_row = att.StandardSet((), None), self.first_row
        for number, source_name, row in self.raw_rows():
            fields = row.fields
            if len(fields) == 1 and first_row.get(fields[0]) == number:
                yield RowResult(number, source_name, row, fields[0], [])
                continue
            yield self._check_row(number, source_name, row, None, standard, None, {})

    def _check_row(self, number: int, source_name: str, row: Row, message_type: MessageTypeInfo | None,
                   standard: att.StandardSet, standard_only, already: Mapping[str, Earlier]) -> RowResult:
        source = next(s for s in self.sources if s.name == source_name) if len(self.sources) > 1 else self.sources[0]
        columns = source.table.columns if source.table else ("bsn", "")
        reasons: list[str] = []
        fields = row.fields
        used = len(columns)
        if len(fields) > used and any(f.strip() for f in fields[used:]):
            reasons.append(_("the row has {n} fields but the file has {columns} column(s): put texts with a "
                             "separator in double quotes", n=len(fields), columns=used))
        values = {c: fields[i] for i, c in enumerate(columns) if c and i < len(fields)}

        raw = values.get("bsn", "")
        # a value seen valid as written in the scan needs no second check (the common case)
        checked = _VALID if raw in self.first_row else bsn_rules.check(raw)
        bsn = raw if checked is _VALID else checked.bsn
        if checked.error:
            reasons.append(checked.error)
        else:
            if checked.repaired:
                self.repaired_count += 1
                if len(self.repaired) < _NOTE_EXAMPLES:
                    self.repaired.append(_("{file} row {row}", file=source_name, row=row.number))
            if checked.reformatted:
                self.reformatted_count += 1
                if len(self.reformatted) < _NOTE_EXAMPLES:
                    self.reformatted.append(_("{file} row {row}", file=source_name, row=row.number))
            first = self.first_row.get(bsn)
            if first is not None and first != number:
                first_file, first_row = self.where(first)
                reasons.append(_("the BSN is also on row {row} of {file}: each BSN only once per drop", row=first_row,
                                 file=first_file))
            elif bsn in already:
                code = message_type.code if message_type else self.manifest.message_type
                reasons.append(_("already handed in for message type {type} in {where}: it is not sent again",
                                 type=code, where=already[bsn].text()))

        cleaned = (row_rules.text(values.get("text")), row_rules.subject(values.get("subject")),
                   row_rules.reference(values.get("reference")))
        reasons.extend(c.problem.message for c in cleaned if c.problem)
        text, subject, reference = (c.value for c in cleaned)
        if message_type is not None and not cleaned[0].problem:  # a template: filled with the ((name)) columns
            given = {c[2:-2]: v for c, v in values.items() if c.startswith("((")}
            filled = templates.for_row(message_type.standard_text, text, bsn, templates.GivenValues(given))
            if filled is not None:
                reasons.extend(p.message for p in filled.problems)
                text = filled.text

        pdfs: tuple[PersonalPdf, ...] = ()
        if bsn is not None:
            pdfs, pdf_reasons = self._personal_pdfs(bsn)
            reasons.extend(pdf_reasons)
            if not pdf_reasons and message_type is not None:
                if pdfs:
                    composed = att.compose(standard, [att.SourcePdf(att.DEFAULT_DESCRIPTION, p.content) for p in pdfs])
                else:
                    composed = standard_only
                if not composed.ok:
                    reasons.append(composed.reason)
        text_given = bool(values.get("text", "").strip())
        # a PDF was given when its name carries this row's BSN as written, even if the name (an
        # invalid BSN) or the PDF itself was refused: the reason then is that, not "give a PDF"
        pdf_given = bool(pdfs) or bool(self.pdfs.get(bsn) if bsn else None) or raw.strip() in self.pdf_names
        if message_type is not None and not message_type.has_standard_text and not text_given and not pdf_given:
            reasons.append(row_rules.content_needed(message_type.code).message)
        if reasons:
            return RowResult(number, source_name, row, bsn, reasons)
        return RowResult(number, source_name, row, bsn, [], text, subject, reference, pdfs)

    def _personal_pdfs(self, bsn: str) -> tuple[tuple[PersonalPdf, ...], list[str]]:
        found = self.pdfs.get(bsn, {})
        rule = self.pdf_rule
        positions = sorted(found)
        if positions and positions[-1] > MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE:
            names = ", ".join(found[p].name for p in positions)
            return (), [_("{n} personal PDFs ({names}); at most {max} per BSN, numbered _1 and _2", n=len(positions),
                          names=names, max=MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE)]
        if positions == [2]:
            return (), [_("{name} has no {first}: number the PDFs _1 and _2", name=found[2].name,
                          first=found[2].name[:-6] + "_1.pdf")]
        if len(positions) < rule.minimum:
            if not positions:
                if self.manifest.pdfs_per_bsn is not None:
                    return (), [_("no personal PDF for this BSN: {file} is missing", file=bsn + "_1.pdf")]
                return (), [_("no personal PDF for this BSN: {file} is missing; the drop holds personal PDFs, so "
                              "every BSN needs one (write pdfs_per_bsn: 0-2 in the marker when some BSNs have none)",
                              file=bsn + "_1.pdf")]
            return (), [_("only 1 personal PDF for this BSN but pdfs_per_bsn is {rule}: {file} is missing",
                          rule=rule.text, file=bsn + "_2.pdf")]
        if len(positions) > rule.maximum:
            return (), [_("{n} personal PDFs for this BSN but pdfs_per_bsn is {rule}", n=len(positions),
                          rule=rule.text)]
        pdfs: list[PersonalPdf] = []
        reasons: list[str] = []
        for position in positions:
            pdf = found[position]
            with self.open_file(pdf.name) as handle:
                content = handle.read()
            info = att.inspect_pdf(content)
            if not info.ok:
                reasons.append(_("personal PDF {name}: {reason}", name=pdf.name, reason=info.reason))
                continue
            if refusal := self.pdfa.check(pdf.name, info):
                reasons.append(_("personal PDF {name}: {reason}", name=pdf.name, reason=refusal))
                continue
            pdfs.append(PersonalPdf(position, pdf.name, content, hashlib.sha256(content).hexdigest()))
        return (tuple(pdfs), reasons) if not reasons else ((), reasons)

    # ------------------------------------------------------------------ notes for the tenant
    def notes(self) -> list[str]:
        notes = []
        if self.repaired_count:
            examples = ", ".join(self.repaired)
            if self.repaired_count > len(self.repaired):
                examples = _("{examples} and more", examples=examples)
            notes.append(_("{n} BSN(s) had 8 digits; BBX added the leading zero that spreadsheets remove "
                           "({examples}). Format the BSN column as text to avoid this.", n=count_text(self.repaired_count),
                           examples=examples))
        if self.reformatted_count:
            examples = ", ".join(self.reformatted)
            if self.reformatted_count > len(self.reformatted):
                examples = _("{examples} and more", examples=examples)
            notes.append(_("{n} BSN(s) were written with dots, dashes or spaces; BBX removed them ({examples}). "
                           "Write a BSN as 9 digits only.", n=count_text(self.reformatted_count), examples=examples))
        if pdfa_note := self.pdfa.note():
            notes.append(pdfa_note)
        return notes
