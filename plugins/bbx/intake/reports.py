"""What the tenant finds in ``outbox/``: acknowledgement, error reports, rejection notice.

- ``<label>.ack.json`` — per drop: status, counts (rows handed in / accepted /
  rejected, as ``store.submissions.row_counts`` defines them for every report; and
  ``rows_in_drop``, the rows read from the list), the schedule (``send_at`` in Dutch
  time, ``publication_date``; null: at once), every file with size and sha256, problems
  and notes;
- ``<label>.errors.csv`` — the rejected rows: the tenant's own columns as they wrote
  them, plus ``row`` (the row number in their file, as a spreadsheet counts) and
  ``reason``. BBX's outbox dialect (``bbx.domain.csvfile``: UTF-8 with BOM, ``;``, CR LF,
  formula-like cells guarded with ``'``): opens directly in Excel. With several list
  files in one drop, one report per file: ``<label>.<file>.errors.csv``. The columns
  ``row`` and ``reason`` are ignored when the corrected report is uploaded again;
- ``<label>.rejected.txt`` — when the drop was not processed at all (broken manifest,
  a problem of the drop as a whole, a re-upload): what is wrong and what to do.

``<label>`` is ``<drop name>.s<submission number>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from bbx.domain import csvfile
from bbx.domain.drop import PROTOCOL, safe_label
from bbx.domain.localtime import TIMEZONE
from bbx.i18n import _
from bbx.store.submissions import row_counts

SUFFIXES = (".ack.json", ".errors.csv", ".rejected.txt")  # what intake writes to outbox/
CSV_DIALECT = csvfile.DIALECT


def label(drop_name: str, submission_id: int) -> str:
    return f"{safe_label(drop_name)}.s{submission_id}"


def error_report_name(drop_label: str, source: str, several: bool) -> str:
    if not several:
        return f"{drop_label}.errors.csv"
    stem = safe_label(source.rsplit(".", 1)[0] if "." in source else source)
    return f"{drop_label}.{stem}.errors.csv"


class ErrorReport:
    """One error report file, written row by row to a local file."""

    def __init__(self, path: Path, header: Iterable[str]):
        self.path = path
        self.header = list(header)
        self.rows = 0
        self._handle = open(path, "w", encoding=csvfile.ENCODING, newline="")
        self._writer = csvfile.writer(self._handle)
        self._writer.writerow([*self.header, _("row"), _("reason")])  # regel;reden in Dutch

    def add(self, fields: list[str], row_number: int, reason: str) -> None:
        padded = list(fields) + [""] * (len(self.header) - len(fields))
        self._writer.writerow([*padded, row_number, reason])
        self.rows += 1

    def close(self) -> None:
        self._handle.close()


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value is not None else None)


def acknowledgement(*, drop: dict, submission: dict, connection_code: str, files: list[dict],
                    counts: dict[str, int]) -> bytes:
    """The acknowledgement of one drop (JSON, stable key order)."""
    if drop["decision"] == "duplicate":
        status = "duplicate"
    elif submission["status"] == "rejected":
        status = "rejected"
    else:
        status = "accepted"
    # the counts of the database (as every other report shows them); a drop rejected as a
    # whole hands in no row, the rows read from its list are shown apart (rows_in_drop)
    rows = row_counts(submission["rows_handed_in"], counts)
    document = {
        "protocol": PROTOCOL,
        "drop": drop["name"],
        "drop_id": drop["drop_key"],
        "submission": submission["id"],
        "connection": connection_code,
        "message_type": drop["message_type_code"],
        "received_at": _iso(submission["received_at"]),
        "status": status,
        "reason": submission["status_reason"] if status != "accepted" else None,
        "duplicate_of": drop["duplicate_of"],
        "rows": rows,
        "rows_in_drop": drop["row_count"] or 0,
        "send_at": _iso(submission["send_at"].astimezone(TIMEZONE)) if submission.get("send_at") else None,
        "publication_date": _iso(submission.get("publication_date")),
        "files": [
            {"name": f["file_name"], "role": f["role"], "size": f["size_bytes"], "sha256": f["sha256"]}
            for f in files
        ],
        "problems": drop["problems"],
        "notes": drop["notes"],
        "reports": [r for r in drop["reports"] if not r.endswith(".ack.json")],
    }
    if drop.get("kind") == "population":  # issue 16: a population list, never sent
        document["kind"] = "population"
        document["population"] = drop.get("population")
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def rejection_notice(*, drop: dict, submission: dict) -> bytes:
    """Plain text for a drop that was not processed: the reason, every problem, what to do."""
    lines = [
        _("Drop '{drop}' (submission {id}) was NOT processed: no message of it will be sent.", drop=drop["name"],
          id=submission["id"]),
        "",
        _("Reason: {reason}", reason=submission["status_reason"]),
    ]
    if drop["problems"]:
        lines += ["", _("Problems (in full):")]
        lines += [f"  - {p['file'] + ': ' if p.get('file') else ''}{p['reason']}" for p in drop["problems"]]
    reports = [r for r in drop["reports"] if r.endswith(".errors.csv")]
    if reports:
        lines += ["", _("Rows with problems are listed in: {files}", files=", ".join(reports))]
    if drop["decision"] == "duplicate":
        lines += ["", _("Nothing to do if this was an accidental re-upload. A new drop needs new content "
                        "or a new drop_id.")]
    else:
        lines += ["", _("Correct the problems and upload the drop again (as a new folder in inbox/, with its "
                        "marker last). See docs/drop-protocol.md.")]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
