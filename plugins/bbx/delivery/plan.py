"""Planning a delivery run: take accepted submissions, decide per message against the
register, cut the rest into GLOBE batches, and cut the batches into delivery slices.

Each submission is planned in one transaction (all or nothing). A rerun of the same
run (retried task, cleared DAG run) finds the submissions it took by its run id and
returns the slices of what is still unsent, with the same batch ids.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from bbx.delivery import config
from bbx.domain.delivery import plan_slices
from bbx.domain.holds import (
    HoldKind,
    four_eyes_reason,
    needs_four_eyes,
    review_request,
    review_run_id,
)
from bbx.store import batches as batch_store
from bbx.store import cancel as cancel_store
from bbx.store import db
from bbx.store import holds as holds_store
from bbx.store import redelivery as redelivery_store
from bbx.store import result_files as result_file_store
from bbx.store import waiting as waiting_store

log = logging.getLogger(__name__)

BULK_CHANNELS = ("sftp",)


def send_date(now: datetime | None = None) -> date:
    return (now or datetime.now(config.SEND_TIMEZONE)).astimezone(config.SEND_TIMEZONE).date()


def _blocked_reason(conn, connection_id: int) -> str | None:
    from bbx.store import register

    return register.bulk_send_blocked(conn, connection_id)


def _holds(conn, sub: dict, blocked: dict[int, str | None]) -> list[tuple[HoldKind, str]]:
    """Why a waiting submission must not be sent now (empty: it may go).

    A deactivated connection holds every channel (its sender identity may be gone at
    MijnOverheid; an operator decides); a stale register holds the bulk channel; more
    messages than the connection's approval threshold wait for a second person. A hold
    a person approved for this submission no longer holds it."""
    found: list[tuple[HoldKind, str]] = []
    if not sub["connection_active"]:
        found.append((HoldKind.INACTIVE_CONNECTION,
                      f"connection {sub['connection_code']} is deactivated in the tenant configuration; "
                      "reactivate it (bbx config apply) to send, or leave the submission unsent"))
    elif sub["channel"] in BULK_CHANNELS:
        if sub["connection_id"] not in blocked:
            blocked[sub["connection_id"]] = _blocked_reason(conn, sub["connection_id"])
        if blocked[sub["connection_id"]]:
            found.append((HoldKind.STALE_REGISTER, blocked[sub["connection_id"]]))
    if needs_four_eyes(sub["rows_handed_in"], sub["approval_threshold"]):
        found.append((HoldKind.FOUR_EYES,
                      four_eyes_reason(sub["rows_handed_in"], sub["approval_threshold"], sub["submitted_by"])))
    if not found:
        return found
    approved = holds_store.approved_kinds(conn, sub["id"])
    return [(kind, reason) for kind, reason in found if kind not in approved]


def plan_submission(conn, submission: dict, *, day: date, kind: str = "initial") -> dict:
    """Register decision and batches for one claimed submission (caller commits). The
    caller holds the submission row's lock (``claim``, ``prepare_redelivery`` or
    ``cancel_store.lock_submission``):
    a cancel waits for the plan, or the plan for the cancel, never half of each."""
    not_subscribed = batch_store.decide_register(conn, submission["id"], submission["connection_id"], day)
    batch_ids = batch_store.cut_into_batches(
        conn, submission["id"], connection_id=submission["connection_id"],
        connection_code=submission["connection_code"], kind=kind,
    )
    return {"not_subscribed": not_subscribed, "batches": len(batch_ids)}


def plan_run(run_id: str, *, max_map_length: int, batches_per_slice: int = config.BATCHES_PER_SLICE,
             url: str | None = None, day: date | None = None, limit: int = 500) -> dict:
    """Plan delivery run ``run_id``. Returns ``{"submissions": [...ids], "slices": [...],
    "held": [{"submission", "connection", "reason"}], "reviews": [{"trigger_run_id", "conf"}]}``
    (JSON-friendly, for XCom). ``reviews`` are the holds seen for the first time: each
    becomes one bbx_review run (a request under *Required actions*); a hold already asked
    about is not asked again."""
    day = day or send_date()
    held: list[dict] = []
    reviews: list[dict] = []
    with db.connect(url) as conn:
        waiting = waiting_store.waiting_submissions(conn, limit=limit)
        conn.commit()
        blocked: dict[int, str | None] = {}
        for sub in waiting:
            if holds := _holds(conn, sub, blocked):
                with db.unit(conn):
                    reason = "; ".join(r for _, r in holds)
                    if waiting_store.hold(conn, sub["id"], reason):
                        log.warning("submission %s (%s, connection %s) is held: %s", sub["id"], sub["channel"],
                                    sub["connection_code"], reason)
                    for kind, kind_reason in holds:
                        review, created = holds_store.open_review(conn, sub["id"], kind, kind_reason)
                        if created:
                            reviews.append({"trigger_run_id": review_run_id(review["id"]),
                                            "conf": review_request(review)})
                held.append({"submission": sub["id"], "connection": sub["connection_code"], "reason": reason,
                             "kinds": [k.value for k, _ in holds]})
                continue
            # one transaction per submission: claimed and planned, or neither
            with db.unit(conn):
                if not waiting_store.claim(conn, sub["id"], run_id, day):
                    continue  # another run took it
                holds_store.withdraw_open_reviews(conn, sub["id"], note=f"no longer held: planned by {run_id}")
                counts = plan_submission(conn, sub, day=day)
            log.info("submission %s (connection %s): %d not subscribed on %s, %d batch(es)",
                     sub["id"], sub["connection_code"], counts["not_subscribed"], day, counts["batches"])
        mine = waiting_store.run_submissions(conn, run_id)
        conn.commit()
        # A rerun of this run: anything still 'planned' (normally nothing) is planned now.
        for sub in mine:
            if sub["status"] == "delivering":
                with db.unit(conn):
                    cancel_store.lock_submission(conn, sub["id"])
                    counts = plan_submission(conn, sub, day=sub["send_date"] or day)
                if counts["batches"] or counts["not_subscribed"]:
                    log.info("submission %s: planned %s on rerun", sub["id"], counts)
        submission_ids = [s["id"] for s in mine]
        pending = batch_store.pending_batches(conn, submission_ids)
        closed = close_finished(conn, submission_ids)
        conn.commit()
    slices = plan_slices(pending, batches_per_slice=batches_per_slice, max_map_length=max_map_length,
                         max_slices=config.send_slices())
    log.info("run %s: %d submission(s), %d batch(es) to send in %d slice(s), %d closed at once, %d held "
             "(%d new review request(s))",
             run_id, len(submission_ids), len(pending), len(slices), len(closed), len(held), len(reviews))
    return {"submissions": submission_ids, "slices": slices, "held": held, "reviews": reviews}


def close_finished(conn, submission_ids) -> list[int]:
    """Close what is reconciled among ``submission_ids`` (e.g. everything rejected or not
    subscribed: nothing to send). Result files are written by the results step."""
    from bbx.store import submissions

    closed = []
    for submission_id in result_file_store.closable_submissions(conn, submission_ids=submission_ids):
        if submissions.close_if_reconciled(conn, submission_id, actor=batch_store.ACTOR):
            closed.append(submission_id)
    return closed


def plan_redelivery(run_id: str, submission_id: int, *, include_failed: bool, failed_codes: list[str] | None,
                    include_stuck: bool, stuck_minutes: int, actor: str, max_map_length: int,
                    batches_per_slice: int = config.BATCHES_PER_SLICE, url: str | None = None,
                    day: date | None = None) -> dict:
    """Prepare an operator's redelivery of one submission and return its slices."""
    day = day or send_date()
    with db.connect(url) as conn:
        with conn.transaction():
            counts = redelivery_store.prepare_redelivery(
                conn, submission_id, run_id=run_id, failed_codes=failed_codes, include_failed=include_failed,
                include_stuck=include_stuck, stuck_minutes=stuck_minutes, actor=actor,
            )
            sub = batch_store.submission_to_plan(conn, submission_id)  # prepare_redelivery locked it
            planned = plan_submission(conn, sub, day=day, kind="resend")
            close_finished(conn, [submission_id])
        pending = batch_store.pending_batches(conn, [submission_id])
    slices = plan_slices(pending, batches_per_slice=batches_per_slice, max_map_length=max_map_length,
                         max_slices=config.send_slices())
    summary = {**counts, **planned, "slices": len(slices)}
    log.info("redelivery of submission %s: %s", submission_id, summary)
    return {"submissions": [submission_id], "slices": slices, "summary": summary}
