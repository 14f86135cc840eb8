"""bbx_collect_results — the safety net that keeps reading delivery results."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from bbx.operators.berichtenbox import BerichtenboxResultsOperator

DOC = """
### Delivery results: one pass every 10 minutes

`bbx_deliver` waits for the results of its own submissions. This DAG catches everything
else: results that arrive after a delivery run stopped waiting, results of
`bbx_redeliver` runs, late duplicates. One pass over every connection with work in flight:
read `GLOBE-R-BV-Result` messages (record, then `processMessage`), resend
`TechnischProbleem` (same BerichtIDs), close reconciled submissions, write result files.
Safe to run next to `bbx_deliver`: every step is idempotent. `purge_result_files` removes
result files older than the connection's retention period from the outboxes (they hold
BSNs). `overdue_submissions` alerts (log ERROR + audit `alert.submission_open_too_long`,
once per submission) for submissions open longer than `BBX_SUBMISSION_OPEN_HOURS` (24).
See `docs/delivery.md`.
"""


@dag(
    dag_id="bbx_collect_results",
    schedule=timedelta(minutes=10),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["bbx", "delivery"],
    default_args={"owner": "bbx", "retries": 2, "retry_delay": timedelta(minutes=2)},
)
def bbx_collect_results():
    BerichtenboxResultsOperator(task_id="collect", submission_ids=None, execution_timeout=timedelta(hours=1))

    @task
    def purge_result_files() -> list[int]:
        """Result files past the connection's retention period leave the outbox."""
        from bbx.delivery import tasks

        return tasks.purge_result_files()

    purge_result_files()

    @task
    def overdue_submissions() -> list[int]:
        """Alert once per submission open longer than BBX_SUBMISSION_OPEN_HOURS (24)."""
        from bbx.delivery import tasks

        return tasks.overdue_submissions()

    overdue_submissions()


bbx_collect_results()
