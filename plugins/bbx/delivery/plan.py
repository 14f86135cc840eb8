"""Planning a delivery run: take accepted submissions, decide per message against the
register, cut the rest into GLOBE batches, and cut the batches into delivery slices.

Each submission is planned in one transaction (all or nothing). A rerun of the same
run (retried task, cleared DAG run) finds the submissions it took by its run id and
returns the slices of what is still unsent, with the same batch ids.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import date, datetime

from bbx.delivery import config
from bbx.domain.delivery import plan_slices
from bbx.store import db
from bbx.store import delivery as store

log = logging.getLogger(__name__)

BULK_CHANNELS = ("sftp",)


def send_date(now: datetime | None = None) -> date:
    return (now or datetime.now(config.SEND_TIMEZONE)).astimezone(config.SEND_TIMEZONE).date()


def _blocked_reason(conn, connection_id: int) -> str | None:
    from bbx.store import register

    return register.bulk_send_blocked(conn, connection_id)


def _hold_reason(conn, sub: dict, blocked: dict[int, str | None]) -> str | None:
    """Why a waiting submission must not be sent now, or None.

    A deactivated connection holds every channel (its sender identity may be gone at
    MijnOverheid; an operator decides); a stale register holds the bulk channel."""
    if not sub["connection_active"]:
        return (f"connection {sub['connection_code']} is deactivated in the tenant configuration; "
                "reactivate it (bbx config apply) to send, or leave the submission unsent")
    if sub["channel"] not in BULK_CHANNELS:
        return None
    if sub["connection_id"] not in blocked:
        blocked[sub["connection_id"]] = _blocked_reason(conn, sub["connection_id"])
    return blocked[sub["connection_id"]]


def plan_submission(conn, submission: dict, *, day: date, kind: str = "initial") -> dict:
    """Register decision and batches for one claimed submission (caller commits)."""
    not_subscribed = store.decide_register(conn, submission["id"], submission["connection_id"], day)
    batch_ids = store.cut_into_batches(
        conn, submission["id"], connection_id=submission["connection_id"],
        connection_code=submission["connection_code"], kind=kind,
    )
    return {"not_subscribed": not_subscribed, "batches": len(batch_ids)}


@contextmanager
def _unit(conn):
    """One committed unit of work on ``conn`` (rolled back on error)."""
    conn.commit()  # end any implicit read transaction: what follows is a real transaction
    try:
        yield
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def plan_run(run_id: str, *, max_map_length: int, batches_per_slice: int = config.BATCHES_PER_SLICE,
             url: str | None = None, day: date | None = None, limit: int = 500) -> dict:
    """Plan delivery run ``run_id``. Returns ``{"submissions": [...ids], "slices": [...],
    "held": [{"submission", "connection", "reason"}]}`` (JSON-friendly, for XCom)."""
    day = day or send_date()
    held: list[dict] = []
    with db.connect(url) as conn:
        waiting = store.waiting_submissions(conn, limit=limit)
        conn.commit()
        blocked: dict[int, str | None] = {}
        for sub in waiting:
            if reason := _hold_reason(conn, sub, blocked):
                if store.hold(conn, sub["id"], reason):
                    log.error("submission %s (%s, connection %s) is held: %s", sub["id"], sub["channel"],
                              sub["connection_code"], reason)
                conn.commit()
                held.append({"submission": sub["id"], "connection": sub["connection_code"], "reason": reason})
                continue
            # one transaction per submission: claimed and planned, or neither
            with _unit(conn):
                if not store.claim(conn, sub["id"], run_id, day):
                    continue  # another run took it
                counts = plan_submission(conn, sub, day=day)
            log.info("submission %s (connection %s): %d not subscribed on %s, %d batch(es)",
                     sub["id"], sub["connection_code"], counts["not_subscribed"], day, counts["batches"])
        mine = store.run_submissions(conn, run_id)
        conn.commit()
        # A rerun of this run: anything still 'planned' (normally nothing) is planned now.
        for sub in mine:
            if sub["status"] == "delivering":
                with _unit(conn):
                    counts = plan_submission(conn, sub, day=sub["send_date"] or day)
                if counts["batches"] or counts["not_subscribed"]:
                    log.info("submission %s: planned %s on rerun", sub["id"], counts)
        submission_ids = [s["id"] for s in mine]
        pending = store.pending_batches(conn, submission_ids)
        closed = close_finished(conn, submission_ids)
        conn.commit()
    slices = plan_slices(pending, batches_per_slice=batches_per_slice, max_map_length=max_map_length)
    log.info("run %s: %d submission(s), %d batch(es) to send in %d slice(s), %d closed at once, %d held",
             run_id, len(submission_ids), len(pending), len(slices), len(closed), len(held))
    return {"submissions": submission_ids, "slices": slices, "held": held}


def close_finished(conn, submission_ids) -> list[int]:
    """Close what is reconciled among ``submission_ids`` (e.g. everything rejected or not
    subscribed: nothing to send). Result files are written by the results step."""
    from bbx.store import submissions

    closed = []
    for submission_id in store.closable_submissions(conn, submission_ids=submission_ids):
        if submissions.close_if_reconciled(conn, submission_id, actor=store.ACTOR):
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
            counts = store.prepare_redelivery(
                conn, submission_id, run_id=run_id, failed_codes=failed_codes, include_failed=include_failed,
                include_stuck=include_stuck, stuck_minutes=stuck_minutes, actor=actor,
            )
            sub = conn.execute(
                """SELECT s.id, s.connection_id, c.code AS connection_code FROM submissions s
                   JOIN connections c ON c.id = s.connection_id WHERE s.id = %s""",
                (submission_id,),
            ).fetchone()
            planned = plan_submission(conn, sub, day=day, kind="resend")
            close_finished(conn, [submission_id])
        pending = store.pending_batches(conn, [submission_id])
    slices = plan_slices(pending, batches_per_slice=batches_per_slice, max_map_length=max_map_length)
    summary = {**counts, **planned, "slices": len(slices)}
    log.info("redelivery of submission %s: %s", submission_id, summary)
    return {"submissions": [submission_id], "slices": slices, "summary": summary}


def explain_holds(held: list[dict]) -> None:
    """Raise, with what to do, when submissions are held (stale register, inactive connection)."""
    if not held:
        return
    lines = [f"submission {h['submission']} (connection {h['connection']}): {h['reason']}" for h in held]
    raise RuntimeError(
        f"{len(held)} submission(s) are held and NOT sent:\n  "
        + "\n  ".join(lines)
        + "\nOnce the cause is gone (the register refreshed or its staleness acknowledged by an "
        "operator; the connection active again), the next bbx_deliver run sends them; nothing "
        "else needs to be done."
    )
