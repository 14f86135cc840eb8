"""Task bodies of the delivery DAGs (``bbx_deliver``, ``bbx_redeliver``,
``bbx_sweep_stuck``, ``bbx_collect_results``): the Airflow side of each task (the trigger
form's params, XComs, Airflow's ``max_map_length``, fail without retry); the work is
``bbx.delivery.plan`` / ``sweep`` / ``results``, which open their own units of work.
Sending and waiting for results are operators (``bbx.operators.berichtenbox``): they
defer into a trigger, which only an operator can.

Kept out of the DAG files so that they stay wiring only; imported inside the tasks.
"""

from __future__ import annotations

from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException


def _max_map_length() -> int:
    return conf.getint("core", "max_map_length", fallback=1024)


def plan(ti, run_id: str) -> list[dict]:
    """Register decision, batches and slices for the submissions this run takes."""
    from bbx.delivery.plan import plan_run

    planned = plan_run(run_id, max_map_length=_max_map_length())
    if not (planned["submissions"] or planned["slices"] or planned["reviews"]):
        # a timer or asset run that found nothing: skipped, so that no downstream task starts
        # (each costs a task start-up); the next run takes what comes later
        raise AirflowSkipException(f"nothing to plan ({len(planned['held'])} held, already asked about)")
    ti.xcom_push(key="submissions", value=planned["submissions"])
    ti.xcom_push(key="held", value=planned["held"])
    ti.xcom_push(key="reviews", value=planned["reviews"])
    return planned["slices"]


def prepare_redelivery(params, ti, run_id: str) -> list[dict]:
    """Reopen the chosen messages and plan them into new batches."""
    from bbx.delivery.plan import plan_redelivery

    if not params.get("submission_id"):
        raise AirflowFailException("give the submission id in the trigger form")
    try:
        planned = plan_redelivery(
            run_id, int(params["submission_id"]), include_failed=bool(params["retry_failed"]),
            failed_codes=list(params.get("codes") or []) or None, include_stuck=bool(params["retry_stuck"]),
            stuck_minutes=int(params["stuck_minutes"]), actor=f"bbx_redeliver:{run_id}",
            max_map_length=_max_map_length(),
        )
    except (LookupError, ValueError) as exc:  # unknown submission, wrong status: no retry helps
        raise AirflowFailException(str(exc)) from None
    ti.xcom_push(key="submissions", value=planned["submissions"])
    ti.xcom_push(key="summary", value=planned["summary"])
    return planned["slices"]


def sweep(run_id: str) -> list[dict]:
    """Fail what was sent often enough; plan the rest into resend batches."""
    from bbx.delivery.sweep import sweep_stuck

    return sweep_stuck(run_id, max_map_length=_max_map_length())["slices"]


def purge_result_files() -> list[int]:
    """Result files past the connection's retention period leave the outbox."""
    from bbx.delivery.results import purge_expired_result_files

    return purge_expired_result_files()


def overdue_submissions() -> list[int]:
    """Alert once per submission open longer than BBX_SUBMISSION_OPEN_HOURS (24): those
    outside a running delivery run have no DAG run for a Deadline Alert to watch."""
    from bbx.delivery.sweep import report_overdue

    return report_overdue()
