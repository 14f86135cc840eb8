"""Deciding a held submission (the bbx_review DAG and the CLI call this).

Approve: the hold no longer holds this submission; the next bbx_deliver run (at once:
the decision emits the asset ``bbx://submissions/accepted``) sends it. Reject: it is not
sent; its messages are rejected with ``NietGoedgekeurd`` and it closes with a result
file. Either way the audit log says who decided.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bbx.domain.holds import Decision, refuse_approver, review_run_id
from bbx.store import db
from bbx.store import holds as store

log = logging.getLogger(__name__)


class ApprovalRefused(ValueError):
    """The person may not approve this (e.g. the four-eyes rule: the submitter)."""


@dataclass(frozen=True)
class ReviewOutcome:
    review_id: int
    submission_id: int
    decision: str  # what was recorded, or "already decided"
    messages_rejected: int = 0


def decide(review_id: int, *, approve: bool, by: str | None, note: str | None = None,
           url: str | None = None) -> ReviewOutcome:
    """Record ``by``'s answer to a review. Raises :class:`ApprovalRefused` when the
    approval does not count; the review is then withdrawn (committed) so that the next
    delivery run asks again (a new request under *Required actions*)."""
    from bbx.delivery.plan import close_finished

    with db.connect(url) as conn:
        with conn.transaction():
            review = store.review_for(conn, review_id=review_id)
            if review is None:
                raise LookupError(f"review {review_id} does not exist")
            if review["decision"] is not None:
                log.info("review %s was already decided (%s by %s): nothing to do", review_id,
                         review["decision"], review["decided_by"])
                return ReviewOutcome(review_id, review["submission_id"], "already decided")
            refused = approve and refuse_approver(review["kind"], channel=review["channel"],
                                                  submitted_by=review["submitted_by"], approver=by)
            if refused:
                store.decide(conn, review_id, Decision.WITHDRAWN, by=by or "unknown",
                             note=f"approval did not count: {refused}")
            elif approve:
                store.decide(conn, review_id, Decision.APPROVED, by=by, note=note)
                return ReviewOutcome(review_id, review["submission_id"], Decision.APPROVED.value)
            else:
                store.decide(conn, review_id, Decision.REJECTED, by=by or "unknown", note=note)
                rejected = store.reject_submission(conn, review["submission_id"], run_id=review_run_id(review_id),
                                                   by=by or "unknown", reason=review["reason"])
                store.withdraw_open_reviews(conn, review["submission_id"], note=f"rejected in review {review_id}")
                close_finished(conn, [review["submission_id"]])
    if refused:
        raise ApprovalRefused(f"review {review_id} (submission {review['submission_id']}): {refused}; "
                              "the next bbx_deliver run asks again")
    log.info("review %s: submission %s rejected by %s (%d messages not sent)", review_id,
             review["submission_id"], by, rejected)
    return ReviewOutcome(review_id, review["submission_id"], Decision.REJECTED.value, rejected)
