"""bbx_redeliver — an operator's rerun of one submission's failed or stuck messages."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, XComArg, dag, task

from bbx.deadlines import delivery_run_open, when_enabled
from bbx.delivery import config
from bbx.operators.berichtenbox import (
    SLICE_LABEL_TEMPLATE,
    BerichtenboxOperator,
    BerichtenboxResultsOperator,
)

DOC = """
### Redeliver a submission (manual trigger)

For technical failures after an outage: messages of one submission go out again **with the
same BerichtIDs** — MijnOverheid answers `BerichtBestaatAl` for anything the citizen
already has (counted as delivered), so nobody gets a letter twice.

* **retry_failed** — failed messages go back to *planned* (optionally only those with one of
  the **codes**, e.g. `TechnischProbleem`); the register decision is made again for today.
* **retry_stuck** — messages *sent* more than **stuck_minutes** ago without any result are
  sent again in new batches.

The submission reopens and closes again when the counts add up; its result file is
rewritten. Every redelivery is in the audit log. See `docs/delivery.md`.
"""

PARAMS = {
    "submission_id": Param(None, type="integer", minimum=1, title="Submission id",
                           description="The submission (aanlevering) to redeliver"),
    "retry_failed": Param(True, type="boolean", title="Retry failed messages"),
    "codes": Param([], type="array", items={"type": "string"}, title="Only these codes",
                   description="VerwerkingsCodes to retry, e.g. TechnischProbleem; empty = every failed message",
                   examples=["TechnischProbleem", "BerichtTypeNietOndersteund", "OinInCPAKomtNietOvereenMetOinInBericht"]),
    "retry_stuck": Param(False, type="boolean", title="Resend messages sent without a result"),
    "stuck_minutes": Param(240, type="integer", minimum=0, title="…sent at least this many minutes ago"),
}


@dag(
    dag_id="bbx_redeliver",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params=PARAMS,
    doc_md=DOC,
    deadline=when_enabled(delivery_run_open()),
    tags=["bbx", "delivery", "operations"],
    default_args={"owner": "bbx", "retries": 2, "retry_delay": timedelta(minutes=1)},
)
def bbx_redeliver():
    @task
    def prepare(params=None, ti=None, run_id=None) -> list[dict]:
        """Reopen the chosen messages and plan them into new batches."""
        from bbx.delivery import tasks

        return tasks.prepare_redelivery(params, ti, run_id)

    planned = prepare()
    sent = BerichtenboxOperator.partial(
        task_id="send", pool=config.POOL, queue=config.QUEUE, map_index_template=SLICE_LABEL_TEMPLATE,
    ).expand(delivery_slice=planned)
    sent >> BerichtenboxResultsOperator(
        task_id="await_results", submission_ids=XComArg(planned.operator, key="submissions"),
        trigger_rule="none_failed",
    )


bbx_redeliver()
