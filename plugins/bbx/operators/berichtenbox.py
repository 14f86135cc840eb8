"""``BerichtenboxOperator`` (send a delivery slice) and ``BerichtenboxResultsOperator``
(collect results; deferrable wait between polls).

Thin: what to send and how results are recorded is ``bbx.delivery``; the protocol is
``bbx.hooks.berichtenbox``. Both run in the Airflow pool ``berichtenbox`` by default,
which caps concurrent traffic to the ebMS adapter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from bbx.delivery import config

SLICE_LABEL_TEMPLATE = "{{ task.delivery_slice['label'] }}"


class BerichtenboxOperator(BaseOperator):
    """Send the batches of one delivery slice that still need sending.

    ``delivery_slice`` is one item of the plan step's ``slices`` (``{"index", "count",
    "label", "batch_ids"}``); map this operator over them with ``expand``. A retry, a
    cleared task or a cleared run sends only the batches that were never acknowledged,
    with their original BatchIDs and BerichtIDs.

    Fails (after sending everything else) when the adapter refused a batch: the batch
    stays unsent; fix the cause (e.g. the connection's CPA) and clear the task.
    """

    template_fields = ("delivery_slice",)
    ui_color = "#d7ecfb"

    def __init__(self, *, delivery_slice: dict, pool: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("map_index_template", SLICE_LABEL_TEMPLATE)
        super().__init__(pool=pool or config.POOL, **kwargs)
        self.delivery_slice = delivery_slice

    def execute(self, context) -> dict:
        from bbx.delivery.send import send_batches

        batch_ids = list(self.delivery_slice.get("batch_ids") or [])
        self.log.info("%s: %d batch(es)", self.delivery_slice.get("label", "slice"), len(batch_ids))
        summary = send_batches(batch_ids)
        self.log.info("sent: %s", summary.as_dict())
        if summary.refused:
            raise AirflowException(
                f"the ebMS adapter refused {len(summary.refused)} batch(es); they were NOT sent: "
                + "; ".join(summary.refused[:5])
                + ". Fix the cause (Airflow Connection / CPA of the connection), then clear this task."
            )
        return summary.as_dict()


class BerichtenboxResultsOperator(BaseOperator):
    """Collect ``GLOBE-R-BV-Result`` messages: record outcomes, resend TechnischProbleem,
    close reconciled submissions, write result files to the tenants' outboxes.

    With ``submission_ids`` it waits until those submissions are closed and reported,
    polling after 1, 2, 4, ... seconds up to every ``poll_interval``, **deferring in between** (no worker slot is held
    while MijnOverheid works); after ``wait_timeout`` it fails with the open counts
    (``bbx_collect_results`` keeps collecting). Without ``submission_ids`` it makes one
    pass over every connection with work in flight and returns.
    """

    template_fields = ("submission_ids",)
    ui_color = "#e8f6e3"

    def __init__(self, *, submission_ids: list[int] | None = None,
                 poll_interval: float = config.RESULT_POLL_SECONDS,
                 wait_timeout: timedelta = timedelta(hours=config.RESULT_WAIT_HOURS),
                 pool: str | None = None, **kwargs: Any) -> None:
        super().__init__(pool=pool or config.POOL, **kwargs)
        self.submission_ids = submission_ids
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout

    def execute(self, context) -> dict:
        return self._poll(context, started=datetime.now(UTC).isoformat(), polls=0)

    def resume(self, context, event: Any = None, started: str | None = None, polls: int = 0) -> dict:
        """Back from the trigger. (``dag.test()`` passes only ``event``: the wait is then
        measured from the start of the DAG run.)"""
        if started is None:
            run_start = getattr(context.get("dag_run"), "start_date", None)
            started = (run_start or datetime.now(UTC)).isoformat()
        return self._poll(context, started=started, polls=polls)

    def _poll(self, context, *, started: str, polls: int) -> dict:
        from bbx.delivery import results

        waiting_for = None if self.submission_ids is None else [int(s) for s in self.submission_ids]
        if waiting_for == []:
            self.log.info("no submissions in this run: nothing to wait for")
            return {}
        summary = results.collect(submission_ids=waiting_for, skip_unconfigured=waiting_for is None)
        polls += 1
        self.log.info("poll %d: %s", polls, summary.as_dict())
        if waiting_for is None:
            return summary.as_dict()
        still_open = results.open_submissions(waiting_for)
        if not still_open:
            self.log.info("all %d submission(s) closed and reported", len(waiting_for))
            return summary.as_dict()
        for row in still_open:
            self.log.info(
                "submission %s (%s) open: handed in %s; delivered %s, not subscribed %s, failed %s, "
                "rejected %s; waiting: planned %s, queued %s, sent %s",
                row["id"], row["connection_code"], row["rows_handed_in"], row["delivered"],
                row["not_subscribed"], row["failed"], row["rejected"], row["planned"], row["queued"], row["sent"],
            )
        waited = datetime.now(UTC) - datetime.fromisoformat(started)
        if waited > self.wait_timeout:
            raise AirflowException(
                f"{len(still_open)} submission(s) still open after {waited}: "
                + ", ".join(str(r["id"]) for r in still_open)
                + ". bbx_collect_results keeps collecting; messages without a result can be resent "
                "with bbx_redeliver (option 'sent without result')."
            )
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        # 1 s, 2 s, 4 s, ... up to poll_interval: small runs finish fast, long waits poll calmly
        wait = min(float(self.poll_interval), 2.0 ** (polls - 1))
        self.defer(
            trigger=DateTimeTrigger(moment=datetime.now(UTC) + timedelta(seconds=wait)),
            method_name="resume",
            kwargs={"started": started, "polls": polls},
        )
