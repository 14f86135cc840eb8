"""bbx_deliver — accepted submissions to the citizens' Berichtenbox (plan → send → results)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, XComArg, dag, task

from bbx.assets import ACCEPTED_SUBMISSIONS, SCHEDULED_SENDS_DUE
from bbx.deadlines import delivery_run_open, when_enabled
from bbx.delivery import config
from bbx.domain.localtime import TIMEZONE_NAME
from bbx.operators.berichtenbox import (
    SLICE_LABEL_TEMPLATE,
    BerichtenboxOperator,
    BerichtenboxResultsOperator,
)
from bbx.operators.trigger import TriggerRunOperator

DOC = """
### Delivery: accepted submissions → Berichtenbox

Runs when intake marks new accepted submissions (asset `bbx://submissions/accepted`), when
a scheduled submission's `send_at` comes (asset `bbx://submissions/scheduled-due`, watched in
the triggerer: within about 15 seconds, without an operator) and every 5 minutes as the
fallback.

1. **plan** — takes accepted submissions, decides per message against the BSN register on
   today's date (*not subscribed* is final, never sent), cuts the rest into GLOBE batches
   (≤ 1000 messages, ≤ 100 MB) and the batches into slices. Bulk (SFTP) submissions of a
   connection whose register is stale, every submission of a deactivated connection, and
   submissions above the connection's `approval_threshold` are **held**. A batch of a
   submission the tenant cancelled is not sent: its messages become *cancelled*.
2. **send** — one mapped task per slice, in pool `berichtenbox`. A retry or a cleared task
   sends only batches never acknowledged, with the same BatchID/BerichtIDs.
3. **await_results** — polls `GLOBE-R-BV-Result` messages, deferring in between; resends
   `TechnischProbleem`; closes each submission when *rejected + not subscribed + delivered
   + failed + cancelled = rows handed in*; writes the result file and undeliverable list to the outbox.
4. **request_review** — a hold seen for the first time triggers one `bbx_review` run: the
   submission waits under *Required actions* for a person to approve or reject it. A held
   submission does not make this run fail (it is not an error of this run), and is not
   asked about again.

Reruns: clear a failed task, or the whole run; see `docs/delivery.md`. Technical failures
after an outage: trigger `bbx_redeliver`.
"""


@dag(
    dag_id="bbx_deliver",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/5 * * * *", timezone=TIMEZONE_NAME),
        assets=ACCEPTED_SUBMISSIONS | SCHEDULED_SENDS_DUE,
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=64,  # runs waiting for results are deferred: cheap; see docs/delivery.md
    doc_md=DOC,
    deadline=when_enabled(delivery_run_open()),
    tags=["bbx", "delivery"],
    default_args={"owner": "bbx", "retries": 3, "retry_delay": timedelta(seconds=config.RETRY_DELAY_SECONDS),
                  "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(minutes=30)},
)
def bbx_deliver():
    @task
    def plan(ti=None, run_id=None) -> list[dict]:
        """Register decision, batches and slices for the submissions this run takes."""
        from bbx.delivery import tasks

        return tasks.plan(ti, run_id)

    planned = plan()
    sent = BerichtenboxOperator.partial(
        task_id="send", pool=config.POOL, queue=config.QUEUE, map_index_template=SLICE_LABEL_TEMPLATE,
        execution_timeout=timedelta(hours=2),
    ).expand(delivery_slice=planned)
    # a plan that found nothing is skipped, and so is everything after it: no task start-ups
    results = BerichtenboxResultsOperator(
        task_id="await_results", submission_ids=XComArg(planned.operator, key="submissions"),
        trigger_rule="none_failed_min_one_success",
    )
    sent >> results
    @task
    def new_holds(reviews: list[dict]) -> list[dict]:
        """Holds seen for the first time (each asks a person once), as trigger arguments
        (a task: Airflow maps only over a return value, not over the plan's "reviews" XCom)."""
        return reviews

    # one bbx_review run per new hold; the run id is the review's, so asking twice is a no-op
    TriggerRunOperator.partial(
        task_id="request_review", trigger_dag_id="bbx_review", skip_when_already_exists=True,
    ).expand_kwargs(new_holds(XComArg(planned.operator, key="reviews")))


bbx_deliver()
