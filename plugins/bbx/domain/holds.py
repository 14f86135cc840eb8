"""Holds and the people who lift them: pure rules, no I/O.

A submission is *held* (not sent) while something needs a person's decision:

* ``stale_register`` — a bulk (SFTP) submission while the connection's register is stale;
* ``inactive_connection`` — any submission of a deactivated connection;
* ``four_eyes`` — more messages than the connection's ``approval_threshold``: a second
  person approves the send. For the web service and the manual page that is anyone but
  the one who handed it in; an SFTP drop has no person behind it, any operator approves.

Each hold asks once (one open review per submission and kind). *Approve* lets this
submission go; *reject* means it is not sent: its messages are rejected with
:data:`NOT_APPROVED_CODE` and the submission closes with a result file.
"""

from __future__ import annotations

from enum import StrEnum


class HoldKind(StrEnum):
    STALE_REGISTER = "stale_register"
    INACTIVE_CONNECTION = "inactive_connection"
    FOUR_EYES = "four_eyes"


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # the hold went away by itself, or an approval did not count


NOT_APPROVED_CODE = "NietGoedgekeurd"
NOT_APPROVED_EXPLANATION = {
    "nl": "Niet verzonden: een beheerder heeft de verzending afgewezen ({reason}).",
    "en": "Not sent: an operator rejected the send ({reason}).",
}

SUBJECTS = {
    HoldKind.STALE_REGISTER: "Send on a stale register? Submission {submission} ({connection})",
    HoldKind.INACTIVE_CONNECTION: "Send for a deactivated connection? Submission {submission} ({connection})",
    HoldKind.FOUR_EYES: "Second approval: submission {submission} ({connection}, {rows} messages)",
}


def needs_four_eyes(rows: int | None, threshold: int | None) -> bool:
    """More messages than the connection's threshold need a second person's approval."""
    return threshold is not None and rows is not None and rows > threshold


def four_eyes_reason(rows: int, threshold: int, submitted_by: str) -> str:
    return (f"{rows} messages is more than the connection's approval threshold of {threshold}: "
            f"a second person (not {submitted_by}) must approve the send")


def airflow_user(submitted_by: str) -> str | None:
    """The Airflow user behind ``submitted_by``, or None: ``airflow:<user>`` (the pages inside
    Airflow) or ``user:<name>`` (a BBX account, which signs in to Airflow under the same
    name through bbx.auth_manager). Approvals are given in Airflow, where only operators
    see the review DAG (issue 14): the approver is an operator who is not the submitter."""
    for prefix in ("airflow:", "user:"):
        if submitted_by.startswith(prefix):
            return submitted_by[len(prefix):]
    return None


def refuse_approver(kind: str, *, channel: str, submitted_by: str, approver: str | None) -> str | None:
    """Why ``approver`` may not approve, or None when the approval counts."""
    if not approver:
        return "the approval has no user (an approval needs a named person)"
    if HoldKind(kind) is not HoldKind.FOUR_EYES or channel == "sftp":
        return None
    if approver == submitted_by or approver == airflow_user(submitted_by):
        return f"{approver} handed this submission in; the four-eyes rule needs a second person"
    return None


def review_run_id(review_id: int) -> str:
    """The bbx_review DAG run of a review: deterministic, so asking twice creates one run."""
    return f"review__{int(review_id)}"


def review_request(review: dict) -> dict:
    """What the operator sees under *Required actions* (``conf`` of the bbx_review run)."""
    kind = HoldKind(review["kind"])
    subject = SUBJECTS[kind].format(submission=review["submission_id"], connection=review["connection_code"],
                                    rows=review.get("rows_handed_in"))
    body = (
        f"**Submission {review['submission_id']}** of connection `{review['connection_code']}` "
        f"({review['channel']}, {review.get('rows_handed_in')} rows, handed in by "
        f"`{review['submitted_by']}`) is held and NOT sent.\n\n"
        f"**Why:** {review['reason']}\n\n"
        "* **Approve** — send this submission now (recorded in the audit log with your name).\n"
        "* **Reject** — do not send it: its messages are rejected (code "
        f"`{NOT_APPROVED_CODE}`) and the tenant gets a result file.\n"
    )
    if kind is HoldKind.STALE_REGISTER:
        body += ("\nOr refresh the register (bbx_register_refresh), or acknowledge the stale register "
                 f"for the whole connection: `bbx register acknowledge {review['connection_code']} --reason ...`.")
    if kind is HoldKind.FOUR_EYES and review["channel"] != "sftp":
        body += f"\nThe approval only counts when it is not given by `{review['submitted_by']}`."
    return {"review_id": int(review["id"]), "submission_id": int(review["submission_id"]),
            "kind": kind.value, "subject": subject[:250], "body": body}
