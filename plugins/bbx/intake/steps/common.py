"""What every intake step shares: the actor, the masker, the connection and its folders,
and the result a step hands to the next."""

from __future__ import annotations

from bbx.domain import bsn as bsn_rules
from bbx.domain.population import KIND_POPULATION
from bbx.hooks.tenant_sftp import ConnectionFolders
from bbx.intake import population as population_intake
from bbx.store import administration, submissions
from bbx.store import drops as drop_store

ACTOR = "bbx_ingest"


def masked(text: str) -> str:
    """``text`` with every BSN-like number masked (``bbx.domain.bsn.mask_text``): for logs
    and for what stays in the database for good (a submission's reason, the audit log).
    Personal PDF names hold the BSN; the tenant gets the full names in outbox/."""
    return bsn_rules.mask_text(text)


class IntakeError(RuntimeError):
    """Something an operator must look at (not a tenant's mistake)."""


def connection_row(conn, code: str) -> dict:
    row = administration.connection_by_code(conn, code)
    if row is None:
        raise IntakeError(f"connection {code!r} is not configured (bbx config show)")
    return row


def folders_of(client, connection: dict) -> ConnectionFolders:
    return ConnectionFolders(client, connection["sftp_folder"])


def drop_result(conn, drop: dict) -> dict:
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

