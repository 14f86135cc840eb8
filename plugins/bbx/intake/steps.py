"""The steps of SFTP intake, one function per task of ``bbx_ingest__<connection>``.

    find_drops ─► receive_drop ─► validate_drop ─► acknowledge_drop ─► announce_accepted
                  (mapped over the drops found)

Every step can crash at any point and simply run again (a retry, or an operator
clearing the task): it looks at where the drop is (inbox/, processing/, archive/) and
at its row in ``sftp_drops`` and does only what is left.

- ``find_drops``: creates missing folders; lists drops that are complete (their marker
  is there; a manifest's files all present with their sizes) and drops left in
  ``processing/`` by an earlier run.
- ``receive_drop``: moves the drop ``inbox/ → processing/`` (one atomic rename), hashes
  every file, and in ONE transaction opens the submission, logs every file (name, size,
  sha256) and decides: validate, duplicate (a re-upload of an accepted drop: same
  drop_id or same content) or rejected (broken manifest).
- ``validate_drop``: checks the drop and every row (``bbx.domain.drop_check``) and in ONE
  transaction writes every row (accepted: planned messages; rejected: with reason) and
  accepts the submission — or rejects the whole drop when it has drop-level problems.
  Then the error reports go to ``outbox/``.
- ``acknowledge_drop``: writes the acknowledgement (and a rejection notice) to
  ``outbox/`` and moves the drop ``processing/ → archive/``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bbx.domain import attachments
from bbx.domain import bsn as bsn_rules
from bbx.domain.drop import (
    MANIFEST_NAME,
    DropProblem,
    Manifest,
    ManifestError,
    ReceivedFile,
    check_manifest,
    classify,
    drop_name_problem,
    fingerprint,
    is_marker,
    manifest_complete,
    marker_of,
    parse_marker,
)
from bbx.domain.drop_check import DropCheck, MessageTypeInfo, RowResult
from bbx.domain.population import KIND_POPULATION
from bbx.hooks import tenant_sftp as sftp_folders
from bbx.hooks.tenant_sftp import ConnectionFolders
from bbx.intake import population as population_intake
from bbx.intake import reports, settings
from bbx.store import administration, audit, db, handins, submissions
from bbx.store import drops as drop_store
from bbx.store import population as population_store
from bbx.store.submissions import NewRow, PersonalAttachment

log = logging.getLogger(__name__)
ACTOR = "bbx_ingest"


def masked(text: str) -> str:
    """``text`` with every BSN-like number masked (``bbx.domain.bsn.mask_text``): for logs
    and for what stays in the database for good (a submission's reason, the audit log).
    Personal PDF names hold the BSN; the tenant gets the full names in outbox/."""
    return bsn_rules.mask_text(text)


class IntakeError(RuntimeError):
    """Something an operator must look at (not a tenant's mistake)."""


def _connection(conn, code: str) -> dict:
    row = administration.connection_by_code(conn, code)
    if row is None:
        raise IntakeError(f"connection {code!r} is not configured (bbx config show)")
    return row


def _folders(client, connection: dict) -> ConnectionFolders:
    return ConnectionFolders(client, connection["sftp_folder"])


def _role(name: str) -> str:
    if is_marker(name):
        return "marker"
    lower = name.lower()
    if lower.endswith((".csv", ".txt")):
        return "list"
    if lower.endswith(".pdf"):
        return "personal_pdf"
    return "other"


# =========================================================================== find


def find_drops(connection_code: str, *, now: datetime | None = None) -> list[dict]:
    """Complete drops in inbox/ and unfinished drops in processing/ (resumed first)."""
    now = now or datetime.now(UTC)
    with db.connect() as conn:
        connection = _connection(conn, connection_code)
    found: list[dict] = []
    with sftp_folders.session() as client:
        folders = _folders(client, connection)
        created = folders.ensure_tree()
        if created:
            log.info("created SFTP folders: %s", ", ".join(created))
        in_processing = [e.name for e in folders.list("processing") if e.kind == "dir"]
        found += [{"connection": connection_code, "name": n, "stage": "processing"} for n in in_processing]
        if problem := handins.connection_problem(connection):
            # like the web service (409): no new hand-in; the drops wait in inbox/ (those
            # already received are finished, and delivery holds them until it is active)
            log.warning("inbox/ is not read: %s", problem.message)
        for entry in folders.list("inbox") if problem is None else ():
            if entry.kind != "dir":
                log.warning("inbox/%s is not a drop folder and is ignored (a drop is a folder with a marker)",
                            masked(entry.name))
                continue
            if entry.name in in_processing:
                log.info("inbox/%s waits: a drop of the same name is still in processing/", masked(entry.name))
                continue
            if _is_complete(folders, entry.name, now):
                found.append({"connection": connection_code, "name": entry.name, "stage": "inbox"})
            else:
                log.info("inbox/%s is not complete yet (no marker, or manifest files still arriving)",
                         masked(entry.name))
    if len(found) > settings.MAX_DROPS_PER_RUN:
        log.info("%d drops waiting; this run takes %d, the next poll the rest", len(found), settings.MAX_DROPS_PER_RUN)
        found = found[: settings.MAX_DROPS_PER_RUN]
    log.info("%d drop(s) to process for %s", len(found), connection_code)
    return found


def _is_complete(folders: ConnectionFolders, name: str, now: datetime) -> bool:
    listing = {e.name: e for e in folders.list("inbox", name)}
    marker = marker_of(n for n, e in listing.items() if e.kind == "file")
    if marker is None:
        return False
    if marker.lower() != MANIFEST_NAME:
        return True
    mtime = listing[marker].mtime
    overdue = mtime is not None and now - datetime.fromtimestamp(mtime, UTC) > settings.MANIFEST_GRACE
    try:
        manifest = parse_marker(marker, folders.read_bytes("inbox", name, marker))
    except ManifestError:
        return overdue  # maybe still being written; rejected as broken once overdue
    return manifest_complete(manifest, listing) or overdue


# =========================================================================== receive


def _descriptor(connection_code: str, drop: dict) -> dict:
    return {
        "connection": connection_code,
        "name": drop["name"],
        "drop_id": drop["id"],
        "submission_id": drop["submission_id"],
        "decision": drop["decision"],
        "kind": drop["kind"],
        "label": reports.label(drop["name"], drop["submission_id"]),
    }


def receive_drop(drop: dict) -> dict:
    """Claim the drop (inbox/ → processing/), hash and log its files, decide what to do."""
    code, name = drop["connection"], drop["name"]
    with db.connect() as conn:
        connection = _connection(conn, code)
        existing = drop_store.in_flight(conn, connection["id"], name)
    if existing:
        log.info("drop %s was received before (submission %s): continuing", masked(name), existing["submission_id"])
        return _descriptor(code, existing)

    with sftp_folders.session() as client:
        folders = _folders(client, connection)
        if not folders.exists("processing", name):
            if not folders.exists("inbox", name):
                with db.connect() as conn:
                    latest = drop_store.latest_drop(conn, connection["id"], name)
                if latest is not None and latest["state"] == "done":  # a rerun of a finished run
                    return _descriptor(code, latest)
                return {"connection": code, "name": name, "skip": "the drop is no longer in inbox/"}
            folders.rename(("inbox", name), ("processing", name))
            log.info("claimed drop %s: inbox/ → processing/", masked(name))
        listing = folders.list("processing", name)
        received: dict[str, ReceivedFile] = {}
        for entry in listing:
            if entry.kind == "file":
                size, sha = folders.hash_file("processing", name, entry.name)
                received[entry.name] = ReceivedFile(entry.name, size, sha)
        marker = marker_of(received)
        manifest, broken = None, None
        if marker is None:
            broken = ("the drop has no marker (manifest.json or READY): it cannot be processed; upload the "
                      "drop again and put the marker in last")
        else:
            try:
                manifest = parse_marker(marker, folders.read_bytes("processing", name, marker))
            except ManifestError as exc:
                broken = f"{exc}. The whole drop was not processed"
        if manifest is not None:
            broken = check_manifest(manifest, received)

    message_type_code = manifest.message_type if manifest else None
    kind = manifest.drop_kind if manifest else "messages"
    # a population list: its mode is part of what makes it the same drop again
    print_ = fingerprint(message_type_code or (f"population:{manifest.mode}" if kind == KIND_POPULATION else ""),
                         received.values())
    with db.transaction() as conn:
        drop_store.lock_connection(conn, connection["id"])
        existing = drop_store.in_flight(conn, connection["id"], name)
        if existing:
            return _descriptor(code, existing)
        drop_id = drop_store.next_drop_id(conn)
        message_type = (handins.message_type(conn, connection["id"], message_type_code)
                        if message_type_code else None)
        submission = submissions.open_submission(
            conn, connection_id=connection["id"], channel="sftp", external_ref=f"sftp-drop-{drop_id}/{name}",
            submitted_by=f"sftp:{connection['tenant_code']}",
            message_type_id=message_type["id"] if message_type else None,
        )
        if kind == KIND_POPULATION:
            population_store.mark_submission(conn, submission.id)
        for item in received.values():
            submissions.record_file(conn, submission.id, file_name=item.name, role=_role(item.name),
                                    size_bytes=item.size, sha256=item.sha256)
        decision, duplicate_of, problems = "validate", None, []
        if broken:
            decision = "rejected"
            problems = [{"file": marker, "reason": broken}]
            submissions.reject(conn, submission.id, reason=masked(broken), actor=ACTOR)
        else:
            earlier = drop_store.earlier_drop(conn, connection["id"], drop_key=manifest.drop_id, fingerprint=print_)
            if earlier:
                decision, duplicate_of = "duplicate", earlier["submission_id"]
                when = earlier["received_at"].date()
                if earlier["same_key"]:
                    reason = (f"drop_id {manifest.drop_id!r} was already used by submission {duplicate_of} of "
                              f"{when}: this drop was not processed again. A new drop needs a new drop_id")
                else:
                    reason = (f"the same drop (same message type and the same files, by their sha256) was "
                              f"already handed in as submission {duplicate_of} of {when}: not processed again")
                submissions.reject(conn, submission.id, reason=reason, actor=ACTOR)
        drop_store.insert_drop(
            conn, drop_id=drop_id, connection_id=connection["id"], name=name, marker=marker,
            drop_key=manifest.drop_id if manifest else None, fingerprint=print_,
            message_type_code=message_type_code or None, submission_id=submission.id, decision=decision,
            duplicate_of=duplicate_of, problems=problems, kind=kind,
        )
        audit.record(conn, actor=ACTOR, action="sftp_drop.received", connection_id=connection["id"],
                     submission_id=submission.id,
                     details={"drop": masked(name), "files": len(received), "decision": decision,
                              "fingerprint": print_})
        row = drop_store.drop(conn, drop_id)
    log.info("drop %s → submission %s: %s (%d files)", masked(name), submission.id, decision, len(received))
    return _descriptor(code, row)


# =========================================================================== validate


def _message_type_problem(conn, connection: dict, code: str) -> tuple[dict | None, str | None]:
    row, problem = handins.usable_message_type(conn, connection, code)
    return row, problem.message if problem else None


def _standard_set(conn, message_type: dict) -> attachments.StandardSet:
    return handins.standard_set(conn, message_type["id"])


def _info(message_type: dict | None) -> MessageTypeInfo | None:
    if message_type is None:
        return None
    return MessageTypeInfo(message_type["code"], message_type["subject"], message_type["standard_text"] is not None)


def _new_row(result: RowResult) -> NewRow:
    if not result.accepted:
        return NewRow(result.number, result.bsn, rejection=result.reason)
    return NewRow(
        result.number, result.bsn, subject=result.subject, text=result.text, reference=result.reference,
        attachments=tuple(PersonalAttachment(p.position, p.file_name, p.content, p.sha256) for p in result.pdfs),
    )


def _chunks(results: Iterator[RowResult], budget: int) -> Iterator[Iterator[NewRow]]:
    """Lazy chunks of rows, each holding at most ``budget`` bytes of personal PDFs (each
    chunk must be consumed before the next is asked for)."""
    iterator = iter(results)
    state = {"done": False}

    def chunk(first: RowResult) -> Iterator[NewRow]:
        used, item = 0, first
        while True:
            yield _new_row(item)
            used += sum(len(p.content) for p in item.pdfs)
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
            return {**descriptor, **_result(conn, drop)}
        connection = _connection(conn, descriptor["connection"])
        logged = {f["file_name"]: f for f in drop_store.submission_files(conn, drop["submission_id"])}

    name, submission_id = drop["name"], drop["submission_id"]
    with tempfile.TemporaryDirectory(prefix="bbx-drop-") as tmp, sftp_folders.session() as client:
        folders = _folders(client, connection)
        listing = folders.list("processing", name)
        local = _LocalDrop(Path(tmp))
        problems: list[DropProblem] = []
        for entry in listing:
            if entry.kind != "file" or entry.size > limits.max_file_bytes:
                continue  # classify() reports it; never download it
            size, sha = folders.download(local.add(entry.name), "processing", name, entry.name)
            if entry.name not in logged or logged[entry.name]["sha256"] != sha:
                problems.append(DropProblem(entry.name, "the file changed after the drop was received: "
                                                        "files in processing/ must not be touched; upload a new drop"))
        for missing in sorted(set(logged) - {e.name for e in listing if e.kind == "file"}):
            problems.append(DropProblem(missing, "the file disappeared from processing/ after the drop was received"))
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
                written = _reports_from_check(check, message_type, label, Path(tmp), connection, submission_id)
                _reject_whole(drop, submission_id, check, problems)
            else:
                written = _write_rows(connection, message_type, drop, check, label, Path(tmp))
        elif submission["status"] == "rejected":  # a rerun after the rejection was committed
            written = _reports_from_check(check, message_type, label, Path(tmp), connection, submission_id)
        else:  # a rerun after the rows were committed
            written = _reports_from_db(check, label, Path(tmp), submission_id)
        for report_name, path in written:
            folders.upload(path, "outbox", report_name)
    return _validated(descriptor, drop, written)


def _validated(descriptor: dict, drop: dict, written: list[tuple[str, Path]]) -> dict:
    with db.transaction() as conn:
        drop_store.set_validated(conn, drop["id"], [n for n, _ in written])
        result = _result(conn, drop_store.drop(conn, drop["id"]))
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
    shown = "; ".join(p.text() for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    reason = (f"the drop was not processed: {len(problems)} problem(s) with the drop as a whole: "
              f"{shown}{more}")
    with db.transaction() as conn:
        drop_store.set_checked(conn, drop["id"], row_count=check.rows_total,
                                 problems=[{"file": p.file, "reason": p.reason} for p in problems],
                                 notes=check.notes())
        submissions.reject(conn, submission_id, reason=masked(reason), actor=ACTOR)


def _write_rows(connection: dict, message_type: dict, drop: dict, check: DropCheck, label: str,
                folder: Path) -> list[tuple[str, Path]]:
    """All rows in one transaction (nothing half-done), BSNs already handed in checked
    set-based; the error reports are written (locally) on the way, in the same pass."""
    submission_id = drop["submission_id"]
    open_reports: dict = {}

    def reported(results: Iterator[RowResult]) -> Iterator[RowResult]:
        for result in results:
            if not result.accepted:
                _report_for(open_reports, check, result.source, label, folder).add(
                    check.report_fields(result.source, result.row.fields), result.row.number, result.reason)
            yield result

    with db.transaction() as conn:
        handins.lock_message_type(conn, message_type["id"])
        already = handins.handed_in_earlier(
            conn, connection_id=connection["id"], message_type_id=message_type["id"],
            submission_id=submission_id, bsns=check.bsns)
        results = reported(check.check_rows(_info(message_type), _standard_set(conn, message_type), already))
        counts = {"accepted": 0, "rejected": 0}
        for chunk in _chunks(results, settings.WRITE_CHUNK_BYTES):
            written = submissions.add_rows(conn, submission_id, connection_code=connection["code"],
                                           connection_id=connection["id"], message_type_id=message_type["id"],
                                           rows=chunk)
            counts = {k: counts[k] + written[k] for k in counts}
        drop_store.set_checked(conn, drop["id"], row_count=check.rows_total, problems=[], notes=check.notes())
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


def _reports_from_check(check: DropCheck, message_type: dict | None, label: str, folder: Path,
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
    for result in check.check_rows(_info(message_type), standard, already):
        if not result.accepted:
            _report_for(open_reports, check, result.source, label, folder).add(
                check.report_fields(result.source, result.row.fields), result.row.number, result.reason)
    return _finish(open_reports)


def _reports_from_db(check: DropCheck, label: str, folder: Path, submission_id: int) -> list[tuple[str, Path]]:
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


def _result(conn, drop: dict) -> dict:
    submission = drop_store.submission(conn, drop["submission_id"])
    rows = submissions.row_counts(submission["rows_handed_in"], submissions.outcome_counts(conn, drop["submission_id"]))
    accepted, rejected = rows["accepted"], rows["rejected"]
    if drop["kind"] == KIND_POPULATION:  # no messages: the rows are population members
        population, _ = population_intake.ack_counts(conn, drop["submission_id"])
        rejected, accepted = population["rejected"], 0
    return {
        "status": submission["status"] if drop["decision"] != "duplicate" else "duplicate",
        "rows": rows["handed_in"],
        "accepted_rows": accepted,
        "rejected_rows": rejected,
    }


# =========================================================================== acknowledge


def acknowledge_drop(descriptor: dict) -> dict:
    """Acknowledgement (and rejection notice) to outbox/, the drop to archive/."""
    if descriptor.get("skip"):
        return descriptor
    with db.connect() as conn:
        drop = drop_store.drop(conn, descriptor["drop_id"])
        if drop["state"] == "done":
            return {**descriptor, **_result(conn, drop)}
        if drop["decision"] == "validate" and drop["state"] != "validated":
            raise IntakeError(f"drop {drop['name']} (submission {drop['submission_id']}) is not validated yet: "
                              "run validate_drop first")
        connection = _connection(conn, descriptor["connection"])
        submission = drop_store.submission(conn, drop["submission_id"])
        files = drop_store.submission_files(conn, drop["submission_id"])
        counts = submissions.outcome_counts(conn, drop["submission_id"])
        population = None
        if drop["kind"] == KIND_POPULATION:
            counts, population = population_intake.ack_counts(conn, drop["submission_id"])
    label = reports.label(drop["name"], drop["submission_id"])
    written = list(drop["reports"])
    with sftp_folders.session() as client:
        folders = _folders(client, connection)
        if submission["status"] == "rejected":
            notice = f"{label}.rejected.txt"
            folders.upload(reports.rejection_notice(drop=drop, submission=submission), "outbox", notice)
            written.append(notice)
        ack = f"{label}.ack.json"
        written.append(ack)
        folders.upload(reports.acknowledgement(drop={**drop, "reports": written, "population": population},
                                               submission=submission,
                                               connection_code=connection["code"], files=files, counts=counts),
                       "outbox", ack)
        if folders.exists("processing", drop["name"]):
            folders.rename(("processing", drop["name"]), ("archive", label))
    with db.transaction() as conn:
        drop_store.set_done(conn, drop["id"], archive_path=folders.path("archive", label), reports=written)
        audit.record(conn, actor=ACTOR, action="sftp_drop.done", connection_id=connection["id"],
                     submission_id=drop["submission_id"], details={"drop": masked(drop["name"]), "outbox": written})
        result = _result(conn, drop_store.drop(conn, drop["id"]))
    return {**descriptor, **result}


def accepted_submissions(results: list[dict | None]) -> list[int]:
    """Submissions accepted in this run with at least one row to deliver."""
    return sorted({r["submission_id"] for r in results
                   if r and r.get("status") == "accepted" and r.get("accepted_rows")})


# =========================================================================== housekeeping


def housekeeping(*, now: datetime | None = None) -> dict:
    """For every connection: create missing folders (active ones); delete archived drops and
    intake reports in outbox/ older than the connection's retention (personal data does not
    stay). Other files in outbox/ (results, register exports) belong to their writers."""
    now = now or datetime.now(UTC)
    summary = {"folders_created": 0, "archives_purged": 0, "outbox_files_removed": 0}
    with db.connect() as conn:
        connections = administration.all_connections(conn)
    with sftp_folders.session() as client:
        for connection in connections:
            folders = _folders(client, connection)
            if connection["active"]:
                summary["folders_created"] += len(folders.ensure_tree())
            cutoff = now - timedelta(days=connection["retention_days"])
            with db.transaction() as conn:
                old = drop_store.purgeable_archives(conn, connection["id"], cutoff)
                for item in old:
                    label = item["archive_path"].rsplit("/", 1)[-1] if item["archive_path"] else None
                    if label and folders.exists("archive", label):
                        folders.remove_tree("archive", label)
                    drop_store.mark_purged(conn, item["id"])
                    summary["archives_purged"] += 1
            for entry in folders.list("outbox"):
                if entry.kind == "file" and entry.name.endswith(reports.SUFFIXES) and entry.mtime is not None \
                        and datetime.fromtimestamp(entry.mtime, UTC) < cutoff:
                    folders.remove("outbox", entry.name)
                    summary["outbox_files_removed"] += 1
    return summary
