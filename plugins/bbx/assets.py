"""Airflow Assets that connect BBX's DAGs.

Intake (any channel) marks new accepted submissions with an event on
ACCEPTED_SUBMISSIONS; delivery is scheduled on it (and on a short timer, so channels
that cannot emit events — the web service, the manual page — are picked up too).
"""

from airflow.sdk import Asset

ACCEPTED_SUBMISSIONS = Asset("bbx://submissions/accepted")
REGISTER_REFRESHED = Asset("bbx://register/refreshed")
