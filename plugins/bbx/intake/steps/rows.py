"""The rows of a validated drop: written in one transaction in chunks bounded by their PDF
bytes, and the tenant's error reports (on the first pass, after a rejection, on a rerun)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from bbx.domain import attachments
from bbx.domain.drop_check import DropCheck, MessageTypeInfo, RowResult
from bbx.intake import reports, settings
from bbx.intake.steps.common import ACTOR
from bbx.store import db, handins, submissions
from bbx.store import drops as drop_store
from bbx.store import schedule as schedule_store
from bbx.store.submissions import NewRow, PersonalAttachment

log = logging.getLogger(__name__)


def _standard_set(conn, message_type: dict) -> attachments.StandardSet:
    return handins.standard_set(conn, message_type["id"])


def message_type_info(message_type: dict | None) -> MessageTypeInfo | None:
    if message_type is None:
        return None
    return MessageTypeInfo(message_type["code"], message_type["subject"], message_type["standard_text"] is not None,
                           message_type["standard_text"])


def _personal_row(result: RowResult) -> NewRow:
    """An accepted row with content of its own (text, subject, reference or PDFs)."""
    return NewRow(
        result.number, result.bsn, subject=result.subject, text=result.text, reference=result.reference,
        attachments=tuple(PersonalAttachment(p.position, p.file_name, p.content, p.sha256) for p in result.pdfs),
    )


def _chunks(rows: Iterator[tuple[NewRow, int]], budget: int) -> Iterator[Iterator[NewRow]]:
    """Lazy chunks of rows, each holding at most ``budget`` bytes of personal PDFs (each
    chunk must be consumed before the next is asked for); ``rows`` gives each row with the
    bytes of its PDFs."""
    iterator = iter(rows)
    state = {"done": False}

    def chunk(first: tuple[NewRow, int]) -> Iterator[NewRow]:
        used, item = 0, first
        while True:
            yield item[0]
            if item[1]:
                used += item[1]
                if used >= budget:
                    return
            item = next(iterator, None)
            if item is None:
                state["done"] = True
                return

    while not state["done"]:
        first = next(iterator, None)
        if first is None:
            return
        yield chunk(first)


def write_rows(connection: dict, message_type: dict, drop: dict, check: DropCheck, label: str,
                folder: Path) -> list[tuple[str, Path]]:
    """All rows in one transaction (nothing half-done), BSNs already handed in checked
    set-based; the error reports are written (locally) on the way, in the same pass."""
    submission_id = drop["submission_id"]
    open_reports: dict = {}

    def new_rows(results: Iterator[RowResult]) -> Iterator[tuple[NewRow, int]]:
        """Each row to write, with its PDFs' bytes; a rejected one also goes to the report."""
        for result in results:
            if result.reasons:
                _report_for(open_reports, check, result.source, label, folder).add(
                    check.report_fields(result.source, result.row.fields), result.row.number, result.reason)
                yield NewRow(result.number, result.bsn, rejection=result.reason), 0
            elif result.pdfs:
                yield _personal_row(result), sum(len(p.content) for p in result.pdfs)
            elif result.text is None and result.subject is None and result.reference is None:
                yield NewRow(result.number, result.bsn), 0  # the common row of a BSN list, built cheaply
            else:
                yield _personal_row(result), 0

    with db.transaction() as conn:
        handins.lock_message_type(conn, message_type["id"])
        already = handins.handed_in_earlier(
            conn, connection_id=connection["id"], message_type_id=message_type["id"],
            submission_id=submission_id, bsns=check.bsns)
        results = check.check_rows(message_type_info(message_type), _standard_set(conn, message_type), already)
        counts = {"accepted": 0, "rejected": 0}
        for chunk in _chunks(new_rows(results), settings.WRITE_CHUNK_BYTES):
            written = submissions.add_rows(conn, submission_id, connection_code=connection["code"],
                                           connection_id=connection["id"], message_type_id=message_type["id"],
                                           rows=chunk,
                                           standard_text_version_id=message_type["standard_text_version_id"])
            counts = {k: counts[k] + written[k] for k in counts}
        drop_store.set_checked(conn, drop["id"], row_count=check.rows_total, problems=[], notes=check.notes())
        # in the transaction that accepts it: no delivery run takes it before its time
        schedule_store.set_schedule(conn, submission_id, check.manifest.schedule, actor=ACTOR)
        submissions.accept(conn, submission_id, rows_handed_in=check.rows_total, actor=ACTOR)
    log.info("submission %s: %d rows accepted, %d rejected", submission_id, counts["accepted"], counts["rejected"])
    return _finish(open_reports)


def _report_for(open_reports: dict, check: DropCheck, source: str, label: str, folder: Path) -> reports.ErrorReport:
    if source not in open_reports:
        name = reports.error_report_name(label, source, several=len(check.sources) > 1)
        open_reports[source] = (name, reports.ErrorReport(folder / f"report-{len(open_reports)}.csv",
                                                          check.report_header(source)))
    return open_reports[source][1]


def _finish(open_reports: dict) -> list[tuple[str, Path]]:
    out = []
    for name, report in open_reports.values():
        report.close()
        out.append((name, report.path))
    return out


def reports_from_check(check: DropCheck, message_type: dict | None, label: str, folder: Path,
                        connection: dict, submission_id: int) -> list[tuple[str, Path]]:
    """Error reports of a drop rejected as a whole: every row problem, for the tenant to fix."""
    already = {}
    with db.connect() as conn:
        standard = _standard_set(conn, message_type) if message_type else None
        if message_type is not None and check.bsns:
            with conn.transaction():
                already = handins.handed_in_earlier(
                    conn, connection_id=connection["id"], message_type_id=message_type["id"],
                    submission_id=submission_id, bsns=check.bsns)
    open_reports: dict = {}
    for result in check.check_rows(message_type_info(message_type), standard, already):
        if not result.accepted:
            _report_for(open_reports, check, result.source, label, folder).add(
                check.report_fields(result.source, result.row.fields), result.row.number, result.reason)
    return _finish(open_reports)


def reports_from_db(check: DropCheck, label: str, folder: Path, submission_id: int) -> list[tuple[str, Path]]:
    """Error reports of an accepted drop, made again on a rerun: exactly the rows the
    database holds as rejected."""
    with db.connect() as conn:
        rejected = drop_store.rejected_rows(conn, submission_id)
    open_reports: dict = {}
    if rejected:
        for number, source, row in check.raw_rows():
            if number in rejected:
                _report_for(open_reports, check, source, label, folder).add(
                    check.report_fields(source, row.fields), row.number, rejected[number])
    return _finish(open_reports)

