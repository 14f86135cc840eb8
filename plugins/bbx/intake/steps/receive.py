"""``receive_drop``: claim the drop (inbox/ → processing/), hash and log its files, and
decide in one transaction: validate, duplicate or rejected."""

from __future__ import annotations

import logging

from bbx.domain.drop import (
    ManifestError,
    ReceivedFile,
    check_manifest,
    fingerprint,
    is_marker,
    marker_of,
    parse_marker,
)
from bbx.domain.population import KIND_POPULATION
from bbx.hooks import tenant_sftp as sftp_folders
from bbx.intake import reports
from bbx.intake.steps.common import ACTOR, connection_row, folders_of, masked
from bbx.store import audit, db, handins, submissions
from bbx.store import drops as drop_store
from bbx.store import population as population_store

log = logging.getLogger(__name__)


def _role(name: str) -> str:
    if is_marker(name):
        return "marker"
    lower = name.lower()
    if lower.endswith((".csv", ".txt")):
        return "list"
    if lower.endswith(".pdf"):
        return "personal_pdf"
    return "other"



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
        connection = connection_row(conn, code)
        existing = drop_store.in_flight(conn, connection["id"], name)
    if existing:
        log.info("drop %s was received before (submission %s): continuing", masked(name), existing["submission_id"])
        return _descriptor(code, existing)

    with sftp_folders.session() as client:
        folders = folders_of(client, connection)
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

