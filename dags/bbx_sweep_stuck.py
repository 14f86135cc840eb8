"""bbx_sweep_stuck — messages acknowledged without a result are resent, then failed."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from bbx.delivery import config
from bbx.operators.berichtenbox import SLICE_LABEL_TEMPLATE, BerichtenboxOperator

DOC = """
### Sweep for messages stuck in *sent* (every 30 minutes)

A message the ebMS adapter acknowledged but for which no `GLOBE-R-BV-Result` came within
`BBX_STUCK_AFTER_MINUTES` (240) is sent again **with the same BerichtID** (MijnOverheid
answers `BerichtBestaatAl` if it has it: delivered, never twice) — in new resend batches,
the path `bbx_redeliver` (*sent without result*) uses. A message sent
`BBX_MAX_SEND_ATTEMPTS` (3) times fails with `GeenResultaat` and is logged as an error for
operators (audit `delivery.no_result`). Results are collected by `bbx_collect_results`.
See `docs/delivery.md`.
"""


@dag(
    dag_id="bbx_sweep_stuck",
    schedule=timedelta(minutes=30),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["bbx", "delivery"],
    default_args={"owner": "bbx", "retries": 2, "retry_delay": timedelta(minutes=2)},
)
def bbx_sweep_stuck():
    @task
    def sweep(run_id=None) -> list[dict]:
        """Fail what was sent often enough; plan the rest into resend batches."""
        from bbx.delivery import tasks

        return tasks.sweep(run_id)

    BerichtenboxOperator.partial(
        task_id="send", pool=config.POOL, queue=config.QUEUE, map_index_template=SLICE_LABEL_TEMPLATE,
    ).expand(delivery_slice=sweep())


bbx_sweep_stuck()
