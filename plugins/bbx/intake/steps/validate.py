"""``validate_drop``: check the drop and every row; write the rows and accept the
submission in one transaction, or reject the whole drop; the error reports to outbox/."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from bbx.domain.drop import (
    DropProblem,
    Manifest,
    ManifestError,
    classify,
    drop_name_problem,
    parse_marker,
    problems_summary,
)
from bbx.domain.drop_check import DropCheck
from bbx.domain.population import KIND_POPULATION
from bbx.hooks import tenant_sftp as sftp_folders
from bbx.i18n import _, language
from bbx.intake import population as population_intake
from bbx.intake import reports, settings
from bbx.intake.steps.common import ACTOR, connection_row, drop_result, folders_of, masked
from bbx.intake.steps.rows import reports_from_check, reports_from_db, write_rows
from bbx.store import db, handins, submissions
from bbx.store import drops as drop_store

log = logging.getLogger(__name__)


def _message_type_problem(conn, connection: dict, code: str) -> tuple[dict | None, str | None]:
    row, problem = handins.usable_message_type(conn, connection, code)
    return row, problem.message if problem else None



class _LocalDrop:
    """The drop's files downloaded to a temporary folder (names stay on the SFTP side)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.paths: dict[str, Path] = {}

    def add(self, name: str) -> Path:
        path = self.folder / f"f{len(self.paths):06d}"
        self.paths[name] = path
        return path

    def open(self, name: str):
        return open(self.paths[name], "rb")


def validate_drop(descriptor: dict) -> dict:
    """Check the drop and its rows; write the rows and accept, or reject the whole drop."""
    if descriptor.get("skip") or descriptor["decision"] != "validate":
        return descriptor
    limits = settings.limits()
    with db.connect() as conn:
        drop = drop_store.drop(conn, descriptor["drop_id"])
        if drop["state"] != "received":
            return {**descriptor, **drop_result(conn, drop)}
        connection = connection_row(conn, descriptor["connection"])
        logged = {f["file_name"]: f for f in drop_store.submission_files(conn, drop["submission_id"])}

    with language(connection["language"]):  # what the tenant reads: its connection's language
        name, submission_id = drop["name"], drop["submission_id"]
        with tempfile.TemporaryDirectory(prefix="bbx-drop-") as tmp, sftp_folders.session() as client:
            folders = folders_of(client, connection)
            listing = folders.list("processing", name)
            local = _LocalDrop(Path(tmp))
            problems: list[DropProblem] = []
            for entry in listing:
                if entry.kind != "file" or entry.size > limits.max_file_bytes:
                    continue  # classify() reports it; never download it
                size, sha = folders.download(local.add(entry.name), "processing", name, entry.name)
                if entry.name not in logged or logged[entry.name]["sha256"] != sha:
                    problems.append(DropProblem(entry.name, _("the file changed after the drop was received: files "
                                                              "in processing/ must not be touched; upload a new drop")))
            for missing in sorted(set(logged) - {e.name for e in listing if e.kind == "file"}):
                problems.append(DropProblem(missing, _("the file disappeared from processing/ after the drop was "
                                                       "received")))
            manifest = _manifest_again(local, drop, problems)
            files = [classify(entry, limits) for entry in listing]
            if manifest.drop_kind == KIND_POPULATION:  # a population list (issue 16): bbx.intake.population
                if problem := drop_name_problem(name):
                    problems.insert(0, DropProblem(None, problem))
                written = _validate_population(connection, drop, manifest, files, local, limits, problems, Path(tmp))
                for report_name, path in written:
                    folders.upload(path, "outbox", report_name)
                return _validated(descriptor, drop, written)
            check = DropCheck(manifest, files, local.open, limits, pdfa=connection["pdfa"]).scan()
            if problem := drop_name_problem(name):
                problems.insert(0, DropProblem(None, problem))
            with db.connect() as conn:
                message_type, problem = _message_type_problem(conn, connection, manifest.message_type)
                if problem:
                    problems.insert(0, DropProblem(manifest.marker, problem))
                problems += check.problems
                submission = drop_store.submission(conn, submission_id)

            label = reports.label(name, submission_id)
            if submission["status"] == "received":
                if problems:
                    written = reports_from_check(check, message_type, label, Path(tmp), connection, submission_id)
                    _reject_whole(drop, submission_id, check, problems)
                else:
                    written = write_rows(connection, message_type, drop, check, label, Path(tmp))
            elif submission["status"] == "rejected":  # a rerun after the rejection was committed
                written = reports_from_check(check, message_type, label, Path(tmp), connection, submission_id)
            else:  # a rerun after the rows were committed
                written = reports_from_db(check, label, Path(tmp), submission_id)
            for report_name, path in written:
                folders.upload(path, "outbox", report_name)
        return _validated(descriptor, drop, written)


def _validated(descriptor: dict, drop: dict, written: list[tuple[str, Path]]) -> dict:
    with db.transaction() as conn:
        drop_store.set_validated(conn, drop["id"], [n for n, _ in written])
        result = drop_result(conn, drop_store.drop(conn, drop["id"]))
    log.info("drop %s (submission %s): %s", masked(drop["name"]), drop["submission_id"], result)
    return {**descriptor, **result}


def _validate_population(connection: dict, drop: dict, manifest: Manifest, files, local: _LocalDrop, limits,
                         problems: list[DropProblem], folder: Path) -> list[tuple[str, Path]]:
    scanned, own = population_intake.check(manifest, files, local.open, limits)
    with db.connect() as conn:
        status = drop_store.submission(conn, drop["submission_id"])["status"]
    return population_intake.validate_drop(
        connection=connection, drop=drop, manifest=manifest, scanned=scanned, problems=problems + own,
        submission_status=status, label=reports.label(drop["name"], drop["submission_id"]), folder=folder,
        mask=masked, actor=ACTOR)


def _manifest_again(local: _LocalDrop, drop: dict, problems: list[DropProblem]) -> Manifest:
    """The marker as received (its hash was checked above); if it was removed or changed
    in processing/ the drop is rejected (the problem is already listed)."""
    if drop["marker"] in local.paths:
        with local.open(drop["marker"]) as handle:
            try:
                return parse_marker(drop["marker"], handle.read())
            except ManifestError as exc:
                problems.append(DropProblem(drop["marker"], str(exc)))
    return Manifest(drop["marker"] or "READY", "ready", drop["message_type_code"] or "")


def _reject_whole(drop: dict, submission_id: int, check: DropCheck, problems: list[DropProblem]) -> None:
    reason = _("the drop was not processed: {n} problem(s) with the drop as a whole: {problems}",
               n=len(problems), problems=problems_summary(problems))
    with db.transaction() as conn:
        drop_store.set_checked(conn, drop["id"], row_count=check.rows_total,
                                 problems=[{"file": p.file, "reason": p.reason} for p in problems],
                                 notes=check.notes())
        submissions.reject(conn, submission_id, reason=masked(reason), actor=ACTOR)

