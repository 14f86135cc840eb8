"""``BerichtenboxOperator`` (send a delivery slice) and ``BerichtenboxResultsOperator``
(collect results; the wait in between runs in the triggerer).

Thin: what to send and how results are recorded is ``bbx.delivery``; the protocol is
``bbx.hooks.berichtenbox``. Both run in the Airflow pool ``berichtenbox`` by default,
which caps concurrent traffic to the ebMS adapter, on the Celery queue ``berichtenbox``
(``BBX_BERICHTENBOX_QUEUE``), and both carry
``bbx.operators.retry.RETRY_POLICY``: only transient failures are retried.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from bbx.delivery import config
from bbx.operators.retry import RETRY_POLICY

SLICE_LABEL_TEMPLATE = "{{ task.delivery_slice['label'] }}"


class BerichtenboxOperator(BaseOperator):
    """Send the batches of one delivery slice that still need sending.

    ``delivery_slice`` is one item of the plan step's ``slices`` (``{"index", "count",
    "label", "batch_ids"}``); map this operator over them with ``expand``. A retry, a
    cleared task or a cleared run sends only the batches that were never acknowledged,
    with their original BatchIDs and BerichtIDs.

    Fails without retries (after sending everything else) when the adapter refused a
    batch: the batch stays unsent; fix the cause (e.g. the connection's CPA) and clear the
    task. The label (``map_index_template``) comes from the slice itself, so Airflow
    renders it before ``execute``: a failed or retrying slice shows it too.
    """

    template_fields = ("delivery_slice",)
    ui_color = "#d7ecfb"

    def __init__(self, *, delivery_slice: dict, pool: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("map_index_template", SLICE_LABEL_TEMPLATE)
        kwargs.setdefault("retry_policy", RETRY_POLICY)
        kwargs.setdefault("queue", config.QUEUE)
        super().__init__(pool=pool or config.POOL, **kwargs)
        self.delivery_slice = delivery_slice

    def execute(self, context) -> dict:
        from bbx.delivery.send import send_batches

        batch_ids = list(self.delivery_slice.get("batch_ids") or [])
        self.log.info("%s: %d batch(es)", self.delivery_slice.get("label", "slice"), len(batch_ids))
        summary = send_batches(batch_ids)
        self.log.info("sent: %s", summary.as_dict())
        if summary.refused:
            # a refusal is permanent: sending the same batch again is refused again
            raise AirflowFailException(
                f"the ebMS adapter refused {len(summary.refused)} batch(es); they were NOT sent: "
                + "; ".join(summary.refused[:5])
                + ". Fix the cause (Airflow Connection / CPA of the connection), then clear this task."
            )
        return summary.as_dict()


class BerichtenboxResultsOperator(BaseOperator):
    """Collect ``GLOBE-R-BV-Result`` messages: record outcomes, resend TechnischProbleem,
    close reconciled submissions, write result files to the tenants' outboxes.

    With ``submission_ids`` it waits until those submissions are closed and reported.
    Between passes it **defers to** :class:`bbx.triggers.results.BerichtenboxResultsTrigger`,
    which polls in the triggerer (is anything still open? do results wait at the adapter?)
    and wakes this task only when there is work or the wait is over. The wait is measured
    from the start of the DAG run (a retry does not restart the clock); after
    ``wait_timeout`` the task fails at once, without retries, with the open counts
    (``bbx_collect_results`` keeps collecting, ``bbx_sweep_stuck`` resends what got no
    result). Without ``submission_ids`` it makes one pass over every connection with work
    in flight and returns.
    """

    template_fields = ("submission_ids",)
    ui_color = "#e8f6e3"

    def __init__(self, *, submission_ids: list[int] | None = None,
                 poll_interval: float = config.RESULT_POLL_SECONDS,
                 wait_timeout: timedelta | None = None,
                 pool: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("retry_policy", RETRY_POLICY)
        kwargs.setdefault("queue", config.QUEUE)
        super().__init__(pool=pool or config.POOL, **kwargs)
        self.submission_ids = submission_ids
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout  # None: BBX_RESULT_WAIT_HOURS when the task runs

    def execute(self, context) -> dict:
        return self._pass(context)

    def resume(self, context, event: dict | None = None, **_: Any) -> dict:
        """Back from the trigger (``event`` is its payload)."""
        event = event or {}
        status = event.get("status")
        self.log.info("trigger: %s after %s poll(s)", status, event.get("polls"))
        if status == "error":
            raise AirflowFailException(
                f"polling connection {event.get('connection')} for results failed: {event.get('message')}. "
                "Fix the Airflow Connection, then clear this task."
            )
        return self._pass(context, final=status == "timeout")

    def _wait_timeout(self) -> timedelta:
        return self.wait_timeout or timedelta(hours=config.result_wait_hours())

    def _deadline(self, context) -> datetime:
        run_start = getattr(context.get("dag_run"), "start_date", None) or datetime.now(UTC)
        return run_start + self._wait_timeout()

    def _pass(self, context, *, final: bool = False) -> dict:
        from bbx.delivery import results
        from bbx.triggers.results import BerichtenboxResultsTrigger

        waiting_for = None if self.submission_ids is None else [int(s) for s in self.submission_ids]
        if waiting_for == []:
            self.log.info("no submissions in this run: nothing to wait for")
            return {}
        summary = results.collect(submission_ids=waiting_for, skip_unconfigured=waiting_for is None)
        self.log.info("pass: %s", summary.as_dict())
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
        deadline = self._deadline(context)
        if final or datetime.now(UTC) >= deadline:
            # not retried: waiting again would only restart the same wait
            raise AirflowFailException(
                f"{len(still_open)} submission(s) still open after waiting {self._wait_timeout()} since "
                f"the run started: " + ", ".join(str(r["id"]) for r in still_open)
                + ". bbx_collect_results keeps collecting; bbx_sweep_stuck resends messages without "
                "a result; bbx_redeliver (option 'sent without result') does it by hand."
            )
        self.defer(
            trigger=BerichtenboxResultsTrigger(
                submission_ids=waiting_for,
                connection_codes=[r["connection_code"] for r in still_open if not r["sandbox"]],
                sandbox_connections=[[r["connection_code"], r["cpa_id"], r["oin"].strip()]
                                     for r in still_open if r["sandbox"]],
                deadline=deadline.isoformat(), poll_interval=self.poll_interval,
            ),
            method_name="resume",
        )
