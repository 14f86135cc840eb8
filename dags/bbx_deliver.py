"""bbx_deliver — accepted submissions to the citizens' Berichtenbox (plan → send → results)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, XComArg, dag, task

from bbx.assets import ACCEPTED_SUBMISSIONS
from bbx.delivery import config
from bbx.domain.localtime import TIMEZONE_NAME
from bbx.operators.berichtenbox import (
    SLICE_LABEL_TEMPLATE,
    BerichtenboxOperator,
    BerichtenboxResultsOperator,
)

DOC = """
### Delivery: accepted submissions → Berichtenbox

Runs when intake marks new accepted submissions (asset `bbx://submissions/accepted`) and
every 5 minutes (for channels that emit no asset event).

1. **plan** — takes accepted submissions, decides per message against the BSN register on
   today's date (*not subscribed* is final, never sent), cuts the rest into GLOBE batches
   (≤ 1000 messages, ≤ 100 MB) and the batches into slices. Bulk (SFTP) submissions of a
   connection whose register is stale, and every submission of a deactivated connection,
   are **held** (see `check_holds`).
2. **send** — one mapped task per slice, in pool `berichtenbox`. A retry or a cleared task
   sends only batches never acknowledged, with the same BatchID/BerichtIDs.
3. **await_results** — polls `GLOBE-R-BV-Result` messages, deferring in between; resends
   `TechnischProbleem`; closes each submission when *rejected + not subscribed + delivered
   + failed = rows handed in*; writes the result file and undeliverable list to the outbox.
4. **check_holds** — fails, with the reason, when a submission is held (stale register,
   deactivated connection).

Reruns: clear a failed task, or the whole run; see `docs/delivery.md`. Technical failures
after an outage: trigger `bbx_redeliver`.
"""


@dag(
    dag_id="bbx_deliver",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/5 * * * *", timezone=TIMEZONE_NAME),
        assets=ACCEPTED_SUBMISSIONS,
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=64,  # runs waiting for results are deferred: cheap; see docs/delivery.md
    doc_md=DOC,
    tags=["bbx", "delivery"],
    default_args={"owner": "bbx", "retries": 3, "retry_delay": timedelta(minutes=1),
                  "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(minutes=30)},
)
def bbx_deliver():
    @task
    def plan(ti=None, run_id=None) -> list[dict]:
        """Register decision, batches and slices for the submissions this run takes."""
        from airflow.sdk.configuration import conf

        from bbx.delivery.plan import plan_run

        planned = plan_run(run_id, max_map_length=conf.getint("core", "max_map_length", fallback=1024))
        ti.xcom_push(key="submissions", value=planned["submissions"])
        ti.xcom_push(key="held", value=planned["held"])
        return planned["slices"]

    @task(retries=1)
    def check_holds(held: list[dict]) -> None:
        """Fail loudly when a submission is held (stale register, deactivated connection)."""
        from bbx.delivery.plan import explain_holds

        explain_holds(held)

    planned = plan()
    sent = BerichtenboxOperator.partial(
        task_id="send", pool=config.POOL, map_index_template=SLICE_LABEL_TEMPLATE,
        execution_timeout=timedelta(hours=2),
    ).expand(delivery_slice=planned)
    results = BerichtenboxResultsOperator(
        task_id="await_results", submission_ids=XComArg(planned.operator, key="submissions"),
        trigger_rule="none_failed",
    )
    sent >> results
    check_holds(XComArg(planned.operator, key="held"))


bbx_deliver()
