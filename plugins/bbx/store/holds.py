"""Reviews of held submissions (table ``submission_reviews``, migration 052).

A review is opened once per submission and hold kind (the partial unique index keeps it
at one open review); people decide it through the bbx_review DAG (Airflow's
*Required actions*) and every decision is in the audit log with the person's name.
"""

from __future__ import annotations

from bbx.domain.holds import NOT_APPROVED_CODE, NOT_APPROVED_EXPLANATION, Decision, HoldKind
from bbx.domain.outcomes import Outcome
from bbx.store import audit

ACTOR = "bbx-delivery"


def open_review(conn, submission_id: int, kind: HoldKind, reason: str) -> tuple[dict, bool]:
    """The open review of this hold, opened now if there is none. ``(review, created)``."""
    created = conn.execute(
        """INSERT INTO submission_reviews (submission_id, kind, reason) VALUES (%s, %s, %s)
           ON CONFLICT (submission_id, kind) WHERE decision IS NULL DO NOTHING RETURNING id""",
        (submission_id, kind.value, reason),
    ).fetchone()
    review = review_for(conn, submission_id=submission_id, kind=kind)
    if created:
        audit.record(conn, actor=ACTOR, action="delivery.review_requested", submission_id=submission_id,
                     details={"review_id": review["id"], "kind": kind.value, "reason": reason})
    return review, created is not None


def review_for(conn, *, review_id: int | None = None, submission_id: int | None = None,
               kind: HoldKind | None = None) -> dict | None:
    """A review with what its request shows: by id, or the open one of a submission and kind."""
    where, params = (("r.id = %s", (review_id,)) if review_id is not None
                     else ("r.submission_id = %s AND r.kind = %s AND r.decision IS NULL",
                           (submission_id, kind.value)))
    return conn.execute(
        f"""SELECT r.*, s.channel, s.submitted_by, s.rows_handed_in, s.status AS submission_status,
                   s.connection_id, c.code AS connection_code
            FROM submission_reviews r JOIN submissions s ON s.id = r.submission_id
            JOIN connections c ON c.id = s.connection_id WHERE {where}""",
        params,
    ).fetchone()


def approved_kinds(conn, submission_id: int) -> set[HoldKind]:
    """Holds a person approved for this submission (they no longer hold it)."""
    rows = conn.execute(
        "SELECT DISTINCT kind FROM submission_reviews WHERE submission_id = %s AND decision = %s",
        (submission_id, Decision.APPROVED.value),
    ).fetchall()
    return {HoldKind(r["kind"]) for r in rows}


def decide(conn, review_id: int, decision: Decision, *, by: str, note: str | None = None) -> dict | None:
    """Record a decision on an open review (None when it was decided already)."""
    row = conn.execute(
        """UPDATE submission_reviews SET decision = %s, decided_by = %s, decided_at = now(), note = %s
           WHERE id = %s AND decision IS NULL RETURNING *""",
        (decision.value, by, note, review_id),
    ).fetchone()
    if row:
        audit.record(conn, actor=by, action=f"delivery.review_{decision.value}", submission_id=row["submission_id"],
                     details={"review_id": review_id, "kind": row["kind"], "reason": row["reason"], "note": note})
    return row


def withdraw_open_reviews(conn, submission_id: int, *, note: str) -> int:
    """The submission goes (its holds are gone): open reviews no longer need an answer."""
    return conn.execute(
        """UPDATE submission_reviews SET decision = %s, decided_by = %s, decided_at = now(), note = %s
           WHERE submission_id = %s AND decision IS NULL""",
        (Decision.WITHDRAWN.value, ACTOR, note, submission_id),
    ).rowcount


def reject_submission(conn, submission_id: int, *, run_id: str, by: str, reason: str) -> int:
    """A person rejected the send: take the accepted submission out of the queue and
    reject its messages (``planned → rejected``, never sent). Returns how many. The
    caller closes the submission (it reconciles: every row is final)."""
    taken = conn.execute(
        """UPDATE submissions SET status = 'delivering', delivery_run_id = %s, delivery_held = NULL
           WHERE id = %s AND status = 'accepted' AND delivery_run_id IS NULL RETURNING id""",
        (run_id, submission_id),
    ).fetchone()
    if taken is None:
        return 0
    rejected = conn.execute(
        """UPDATE messages SET outcome = %s, outcome_code = %s, outcome_reason = %s, final_at = now()
           WHERE submission_id = %s AND outcome = %s""",
        (Outcome.REJECTED.value, NOT_APPROVED_CODE, NOT_APPROVED_EXPLANATION["nl"].format(reason=reason),
         submission_id, Outcome.PLANNED.value),
    ).rowcount
    audit.record(conn, actor=by, action="submission.send_rejected", submission_id=submission_id,
                 details={"run_id": run_id, "messages_rejected": rejected, "reason": reason})
    return rejected


def open_reviews(conn, submission_ids) -> dict[int, list[dict]]:
    """Open reviews per submission (for ``bbx delivery status``)."""
    found: dict[int, list[dict]] = {}
    for r in conn.execute(
        """SELECT id, submission_id, kind, requested_at FROM submission_reviews
           WHERE submission_id = ANY(%s) AND decision IS NULL ORDER BY id""",
        (list(submission_ids),),
    ):
        found.setdefault(r["submission_id"], []).append(r)
    return found
