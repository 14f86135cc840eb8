"""bbx_review — one run per held submission: an operator approves or rejects it."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from bbx.assets import ACCEPTED_SUBMISSIONS
from bbx.operators.review import SubmissionReviewOperator

DOC = """
### Review a held submission (triggered by bbx_deliver, once per hold)

`bbx_deliver` holds a submission when a person must decide: the connection's register is
stale (bulk sends), the connection is deactivated, or the submission is larger than the
connection's `approval_threshold` (four-eyes). For each hold it triggers **one** run of
this DAG (run id `review__<review id>`); the request waits under **Required actions**
with the reason.

* **Approve** — the submission is sent (the next `bbx_deliver` run starts at once). For
  four-eyes, the approval only counts from someone other than the person who handed the
  submission in (SFTP drops: any operator); otherwise this task fails and a new request
  is made.
* **Reject** — it is not sent: its messages are rejected (`NietGoedgekeurd`) and the
  tenant gets a result file.

Who decided is in the audit log. A hold that goes away by itself (the register refreshed,
`bbx register acknowledge`, the connection reactivated) withdraws the request: answering
it later changes nothing. See `docs/delivery.md`.
"""


@dag(
    dag_id="bbx_review",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=None,
    doc_md=DOC,
    tags=["bbx", "delivery", "operations"],
    # a retry (database unreachable while recording the answer) asks the person again
    default_args={"owner": "bbx", "retries": 1},
)
def bbx_review():
    SubmissionReviewOperator(task_id="decide", outlets=[ACCEPTED_SUBMISSIONS])


bbx_review()
