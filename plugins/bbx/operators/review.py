"""``SubmissionReviewOperator`` — a held submission under Airflow's *Required actions*.

An ``ApprovalOperator`` (providers-standard HITL; on Airflow 3.3 the task waits in
``awaiting_input``, holding no worker and no trigger) whose answer is recorded in BBX:
who approved or rejected, in ``submission_reviews`` and the audit log.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.exceptions import AirflowFailException


def _user(responded_by: Any) -> str | None:
    if isinstance(responded_by, dict):
        return responded_by.get("name") or responded_by.get("id")
    return str(responded_by) if responded_by else None


class SubmissionReviewOperator(ApprovalOperator):
    ui_color = "#fdf1d6"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("subject", "{{ dag_run.conf['subject'] }}")
        kwargs.setdefault("body", "{{ dag_run.conf['body'] }}")
        super().__init__(**kwargs)

    def execute_complete(self, context, event: dict[str, Any]) -> Any:
        from bbx.delivery import holds

        answer = super().execute_complete(context=context, event=event)
        review_id = int(context["dag_run"].conf["review_id"])
        approve = answer["chosen_options"][0] == self.APPROVE
        by = _user(answer.get("responded_by_user"))
        try:
            outcome = holds.decide(review_id, approve=approve, by=by)
        except holds.ApprovalRefused as exc:
            raise AirflowFailException(str(exc)) from None
        self.log.info("review %s of submission %s: %s by %s", review_id, outcome.submission_id,
                      outcome.decision, by)
        return {"review_id": review_id, "submission_id": outcome.submission_id, "decision": outcome.decision,
                "by": by, "messages_rejected": outcome.messages_rejected}
