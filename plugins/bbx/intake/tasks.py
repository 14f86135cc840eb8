"""Task bodies of ``bbx_ingest__<connection>`` and ``bbx_intake_housekeeping``: the Airflow
side of each task (the mapped task's label, skip or fail, the asset event's extra); the
work is ``bbx.intake.steps``, which opens its own units of work and which tests call
without Airflow.

Kept out of the DAG file so that it stays wiring only; imported inside the tasks.
"""

from __future__ import annotations

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from bbx.assets import ACCEPTED_SUBMISSIONS
from bbx.intake import steps


def _label(drop: dict) -> None:
    """Names the mapped task instance in the UI after the drop folder."""
    get_current_context()["drop_label"] = drop["name"]


def find_drops(connection_code: str) -> list[dict]:
    return steps.find_drops(connection_code)


def receive_drop(drop: dict) -> dict:
    _label(drop)
    return steps.receive_drop(drop)


def validate_drop(drop: dict) -> dict:
    _label(drop)
    return steps.validate_drop(drop)


def acknowledge_drop(drop: dict) -> dict:
    _label(drop)
    return steps.acknowledge_drop(drop)


def announce_accepted(connection_code: str, results, outlet_events) -> list[int]:
    accepted = steps.accepted_submissions(list(results[:]))  # one slice: no per-item look-ups
    if not accepted:
        raise AirflowSkipException("no drop with rows to deliver was accepted in this run")
    outlet_events[ACCEPTED_SUBMISSIONS].extra = {"connection": connection_code, "submission_ids": accepted}
    return accepted


def watch_failures() -> None:
    # Airflow derives a run's state from its leaf tasks only; announce_accepted is a leaf that
    # runs after failures (all_done), so this leaf carries any failure into the run's state.
    raise AirflowFailException(
        "an intake task of this run failed (see the failed or upstream-failed task above, e.g. find_drops "
        "when the SFTP server cannot be reached): the run is marked failed")


def tidy_folders() -> dict:
    return steps.housekeeping()


def purge_content() -> dict:
    from bbx.store import db, retention

    return {**retention.purge_expired_content(db.connect),
            "callback_outbox": retention.purge_callback_outbox(db.connect)}
