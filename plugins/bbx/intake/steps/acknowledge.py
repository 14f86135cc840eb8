"""``acknowledge_drop``: the acknowledgement (and a rejection notice) to outbox/, the drop
to archive/; ``accepted_submissions`` for the asset event."""

from __future__ import annotations

from bbx.domain.population import KIND_POPULATION
from bbx.hooks import tenant_sftp as sftp_folders
from bbx.intake import population as population_intake
from bbx.intake import reports
from bbx.intake.steps.common import (
    ACTOR,
    IntakeError,
    connection_row,
    drop_result,
    folders_of,
    masked,
)
from bbx.store import audit, db, submissions
from bbx.store import drops as drop_store


def acknowledge_drop(descriptor: dict) -> dict:
    """Acknowledgement (and rejection notice) to outbox/, the drop to archive/."""
    if descriptor.get("skip"):
        return descriptor
    with db.connect() as conn:
        drop = drop_store.drop(conn, descriptor["drop_id"])
        if drop["state"] == "done":
            return {**descriptor, **drop_result(conn, drop)}
        if drop["decision"] == "validate" and drop["state"] != "validated":
            raise IntakeError(f"drop {drop['name']} (submission {drop['submission_id']}) is not validated yet: "
                              "run validate_drop first")
        connection = connection_row(conn, descriptor["connection"])
        submission = drop_store.submission(conn, drop["submission_id"])
        files = drop_store.submission_files(conn, drop["submission_id"])
        counts = submissions.outcome_counts(conn, drop["submission_id"])
        population = None
        if drop["kind"] == KIND_POPULATION:
            counts, population = population_intake.ack_counts(conn, drop["submission_id"])
    label = reports.label(drop["name"], drop["submission_id"])
    written = list(drop["reports"])
    with sftp_folders.session() as client:
        folders = folders_of(client, connection)
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
        result = drop_result(conn, drop_store.drop(conn, drop["id"]))
    return {**descriptor, **result}


def accepted_submissions(results: list[dict | None]) -> list[int]:
    """Submissions accepted in this run with at least one row to deliver."""
    return sorted({r["submission_id"] for r in results
                   if r and r.get("status") == "accepted" and r.get("accepted_rows")})
