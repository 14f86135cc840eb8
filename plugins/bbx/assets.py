"""Airflow Assets that connect BBX's DAGs.

Intake (any channel) marks new accepted submissions with an event on
ACCEPTED_SUBMISSIONS; delivery is scheduled on it, on SCHEDULED_SENDS_DUE (an event-driven
asset: a watcher in the triggerer announces a scheduled submission when its ``send_at``
comes, :mod:`bbx.triggers.scheduled`) and on a 5-minute timer as the fallback.
"""

from airflow.sdk import Asset, AssetWatcher

from bbx.triggers.scheduled import ScheduledSendsDueTrigger

ACCEPTED_SUBMISSIONS = Asset("bbx://submissions/accepted")
SCHEDULED_SENDS_DUE = Asset("bbx://submissions/scheduled-due", watchers=[
    AssetWatcher(name="bbx_scheduled_sends_due", trigger=ScheduledSendsDueTrigger())])
REGISTER_REFRESHED = Asset("bbx://register/refreshed")
