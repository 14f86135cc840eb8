"""Ask for delivery at once when the web service or the manual page accepted a submission.

Both run inside Airflow's api-server (BBX's FastAPI plugin), which has the metadata
database: they record an event on the asset ``bbx://submissions/accepted`` — the same
event SFTP intake emits as a task outlet — through Airflow's asset manager, as
``POST /api/v2/assets/events`` does. ``bbx_deliver`` is scheduled on that asset, so the
scheduler starts a run within seconds instead of on the 5-minute timer.

Call it after the submission is committed (the run must find it). It never fails the
request: the submission is accepted and stored either way, and the timer still takes it;
a failure to announce is logged as a warning with the reason.
"""

from __future__ import annotations

import logging

from bbx.assets import ACCEPTED_SUBMISSIONS

log = logging.getLogger(__name__)


def _airflow_configured() -> bool:
    """Inside the api-server (or anything else with Airflow's metadata database)."""
    import os

    return bool(os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"))


def delivery_requested(submission_id: int, connection_code: str, channel: str) -> bool:
    """Record the asset event; True when it was recorded."""
    if not _airflow_configured():
        log.info("submission %s accepted; no Airflow metadata database here, bbx_deliver's timer takes it",
                 submission_id)
        return False
    try:
        from airflow.assets.manager import asset_manager
        from airflow.models.asset import AssetModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            asset = session.scalar(select(AssetModel).where(AssetModel.uri == ACCEPTED_SUBMISSIONS.uri))
            if asset is None:
                log.warning("asset %s unknown to Airflow (bbx_deliver not parsed yet): submission %s waits for "
                            "bbx_deliver's timer", ACCEPTED_SUBMISSIONS.uri, submission_id)
                return False
            event = asset_manager.register_asset_change(
                asset=asset, extra={"connection": connection_code, "submission_ids": [submission_id],
                                    "channel": channel},
                source_is_api=True, session=session)
        return event is not None
    except Exception as exc:  # the submission is stored: never fail the request for this
        log.warning("could not announce submission %s to bbx_deliver (%s: %s); the 5-minute timer takes it",
                    submission_id, type(exc).__name__, exc)
        return False
