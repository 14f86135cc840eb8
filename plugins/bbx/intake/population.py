"""Handing in a population list (issue 16): an SFTP drop of kind ``population`` or a
web-service call. Both check the list with the same rules as any BSN list
(``bbx.domain.drop_check``: 11-test, 8-digit repair, each BSN once) and store it with
``bbx.store.population`` in one transaction (COPY into a staging table, one set-based
statement). Nothing of it is ever sent to MijnOverheid.

A problem of the list as a whole (unreadable, other columns than the BSN, PDFs, no
rows) rejects the hand-in; a bad row is rejected with its reason and the others count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from bbx.domain import population as rules
from bbx.domain.drop import (
    DEFAULT_LIMITS,
    NOTHING_TO_SEND,
    DropFile,
    DropProblem,
    IntakeLimits,
    Manifest,
    problems_summary,
)
from bbx.domain.drop_check import DropCheck, RowResult
from bbx.intake import reports
from bbx.store import db, submissions
from bbx.store import drops as drop_store
from bbx.store import population as store

log = logging.getLogger(__name__)


def check(manifest: Manifest, files: list[DropFile], open_file: Callable[[str], BinaryIO],
          limits: IntakeLimits = DEFAULT_LIMITS) -> tuple[DropCheck, list[DropProblem]]:
    """Scan the list (pass 1) and return it with the problems of the hand-in as a whole."""
    scanned = DropCheck(manifest, files, open_file, limits).scan()
    problems = [p for p in scanned.problems if p.kind != NOTHING_TO_SEND]  # a population list sends nothing
    pdfs = [f for f in files if f.role == "pdf"]
    if pdfs:
        problems.append(DropProblem(pdfs[0].name, f"a population list has no PDFs; the drop holds {len(pdfs)}: "
                                                  "remove them (personal PDFs belong in a message drop)"))
    if not any(f.role == "list" for f in files):
        problems.append(DropProblem(None, "the drop holds no list file: a population drop holds one or more "
                                          "BSN lists (.csv or .txt)"))
    for source in scanned.sources:
        if source.table is not None and (problem := rules.list_problem(source.table.columns, source.name)):
            problems.append(DropProblem(source.name, problem))
    return scanned, problems


class _Tally:
    def __init__(self):
        self.rows = 0
        self.rejected = 0


def _valid_bsns(scanned: DropCheck, tally: _Tally, on_rejected: Callable[[RowResult], None],
                on_rows: Callable[[int, int], None] | None) -> Iterator[str]:
    for result in scanned.check_bsn_rows():
        tally.rows += 1
        if on_rows is not None:
            on_rows(tally.rows, scanned.rows_total)
        if result.accepted:
            yield result.bsn
        else:
            tally.rejected += 1
            on_rejected(result)


def write(conn, scanned: DropCheck, *, connection_id: int, submission_id: int, mode: str,
          on_rejected: Callable[[RowResult], None] = lambda result: None, actor: str = store.ACTOR,
          on_rows: Callable[[int, int], None] | None = None) -> dict:
    """Apply the checked list in the caller's transaction; every rejected row goes to
    ``on_rejected`` on the way (one pass over the file), ``on_rows(done, total)`` is told
    the rows so far (progress). Returns the version row."""
    tally = _Tally()
    version = store.apply(conn, connection_id=connection_id, submission_id=submission_id, mode=mode,
                          bsns=_valid_bsns(scanned, tally, on_rejected, on_rows), rows_handed_in=lambda: tally.rows,
                          rows_rejected=lambda: tally.rejected, actor=actor)
    log.info("population of connection %s: version %s (%s), %s rows, %s rejected, +%s -%s = %s members",
             connection_id, version["version"], mode, version["rows_handed_in"], version["rows_rejected"],
             version["added"], version["removed"], version["members"])
    return version


def summary(version: dict | None) -> dict | None:
    """The population part of an acknowledgement or an API answer."""
    if version is None:
        return None
    return {key: version[key] for key in ("version", "mode", "rows_handed_in", "rows_rejected", "added",
                                          "removed", "unchanged", "members")}


# --------------------------------------------------------------------------- SFTP drops


class _Reports:
    """Error reports of a population drop, written locally (the caller uploads them)."""

    def __init__(self, scanned: DropCheck, label: str, folder: Path):
        self.scanned, self.label, self.folder, self.open = scanned, label, folder, {}

    def add(self, result: RowResult) -> None:
        if result.source not in self.open:
            name = reports.error_report_name(self.label, result.source, several=len(self.scanned.sources) > 1)
            self.open[result.source] = (name, reports.ErrorReport(self.folder / f"population-{len(self.open)}.csv",
                                                                  self.scanned.report_header(result.source)))
        self.open[result.source][1].add(result.row.fields, result.row.number, result.reason)

    def finish(self) -> list[tuple[str, Path]]:
        out = []
        for name, report in self.open.values():
            report.close()
            out.append((name, report.path))
        return out


def validate_drop(*, connection: dict, drop: dict, manifest: Manifest, scanned: DropCheck,
                  problems: list[DropProblem], submission_status: str, label: str, folder: Path,
                  mask: Callable[[str], str], actor: str) -> list[tuple[str, Path]]:
    """Store a population drop (or reject it as a whole) and write its error reports.

    Runs again safely: a drop already applied (or rejected) is not applied twice; its
    error reports are made again from the same files (the checks are deterministic)."""
    out = _Reports(scanned, label, folder)
    if submission_status == "received" and not problems:
        with db.transaction() as conn:
            version = write(conn, scanned, connection_id=connection["id"], submission_id=drop["submission_id"],
                            mode=manifest.mode or rules.DEFAULT_MODE, on_rejected=out.add, actor=actor)
            drop_store.set_checked(conn, drop["id"], row_count=version["rows_handed_in"], problems=[],
                                     notes=scanned.notes())
        return out.finish()
    for result in scanned.check_bsn_rows():  # rejected as a whole, or a rerun
        if not result.accepted:
            out.add(result)
    if submission_status == "received":
        reason = (f"the population list was not processed: {len(problems)} problem(s) with the drop as a whole: "
                  f"{problems_summary(problems)}")
        with db.transaction() as conn:
            drop_store.set_checked(conn, drop["id"], row_count=scanned.rows_total,
                                     problems=[{"file": p.file, "reason": p.reason} for p in problems],
                                     notes=scanned.notes())
            submissions.reject(conn, drop["submission_id"], reason=mask(reason), actor=actor)
    return out.finish()


def ack_counts(conn, submission_id: int) -> tuple[dict[str, int], dict | None]:
    """(rows accepted/rejected, population summary) of a population drop's acknowledgement."""
    version = store.version_for(conn, submission_id)
    if version is None:
        return {"accepted": 0, "rejected": 0}, None
    accepted = version["rows_handed_in"] - version["rows_rejected"]
    return {"accepted": accepted, "rejected": version["rows_rejected"]}, summary(version)


# --------------------------------------------------------------------------- the web service (and scripts)


class PopulationRefused(ValueError):
    """The list as a whole cannot be used; nothing was stored. ``problems``: every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class IdempotencyConflict(ValueError):
    pass


def hand_in_file(connection: dict, path: Path, *, file_name: str, mode: str, channel: str, external_ref: str,
                 submitted_by: str, max_rejected_shown: int = 1000,
                 on_rows: Callable[[int, int], None] | None = None) -> dict:
    """Hand in a population list that is a local file (the web service streams the
    request body into one): checked, stored and logged as one submission.

    Returns ``{submission_id, replayed, population: {...}, rejected_rows: [{row, value,
    reason}], notes}``; ``on_rows`` as in :func:`write`. Raises PopulationRefused (nothing stored) for a problem of the
    list as a whole, IdempotencyConflict when ``external_ref`` was used for other content.
    """
    import hashlib

    if mode not in rules.MODES:
        raise PopulationRefused([f"mode must be one of {', '.join(rules.MODES)}, not {mode!r}"])
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    sha256 = digest.hexdigest()
    with db.connect() as conn:
        earlier = store.earlier_handin(conn, connection["id"], channel, external_ref)
    if earlier is not None:
        return _replay(earlier, sha256, mode)
    manifest = Manifest("(request)", "ready", "", drop_kind=rules.KIND_POPULATION, mode=mode)
    files = [DropFile(file_name, size, "list", problem=None if size else "the list is empty (0 bytes)")]
    scanned, problems = check(manifest, files, lambda _name: open(path, "rb"))
    if problems:
        raise PopulationRefused([p.text() for p in problems])
    rejected: list[dict] = []
    counted = {"n": 0}

    def keep(result: RowResult) -> None:
        counted["n"] += 1
        if len(rejected) < max_rejected_shown:
            rejected.append({"row": result.row.number, "value": result.row.fields[0] if result.row.fields else "",
                             "reason": result.reason})

    with db.transaction() as conn:
        store.lock_population_handin(conn, connection["id"])
        earlier = store.earlier_handin(conn, connection["id"], channel, external_ref)
        if earlier is not None:
            return _replay(earlier, sha256, mode)
        submission = submissions.open_submission(conn, connection_id=connection["id"], channel=channel,
                                                 external_ref=external_ref, submitted_by=submitted_by)
        submissions.record_file(conn, submission.id, file_name=file_name, role="population",
                                size_bytes=size, sha256=sha256)
        version = write(conn, scanned, connection_id=connection["id"], submission_id=submission.id, mode=mode,
                        on_rejected=keep, actor=submitted_by, on_rows=on_rows)
    return {"submission_id": submission.id, "replayed": False, "population": summary(version),
            "rejected_rows": rejected, "rejected_rows_shown": len(rejected), "notes": scanned.notes()}


def _replay(earlier: dict, sha256: str, mode: str) -> dict:
    if earlier["kind"] != rules.KIND_POPULATION or earlier["sha256"] != sha256 or earlier["mode"] != mode:
        raise IdempotencyConflict(
            f"this Idempotency-Key was used for another request (submission {earlier['submission_id']}); "
            "a new population list needs a new key")
    with db.connect() as conn:
        version = store.version_for(conn, earlier["submission_id"])
    return {"submission_id": earlier["submission_id"], "replayed": True, "population": summary(version),
            "rejected_rows": [], "rejected_rows_shown": 0, "notes": []}
