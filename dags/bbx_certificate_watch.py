"""bbx_certificate_watch — every connection's client certificate and trust chain, daily."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

DOC = """
### Certificate watch (daily)

Checks every active connection's `berichtenbox_<code>` Airflow Connection: the client
certificate and key, the OIN in its subject, its trust chain, and the end dates of the
certificate and of every chain certificate. Within **30 days** of an end date the task
logs a warning per certificate; within **7 days** (or anything unusable) the run **fails**
with the connection and the certificate named. See `docs/operations.md`.
"""


@dag(
    dag_id="bbx_certificate_watch",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["bbx", "operations"],
    default_args={"owner": "bbx", "retries": 1, "retry_delay": timedelta(minutes=5)},
)
def bbx_certificate_watch():
    @task
    def check_certificates() -> dict:
        """Warn 30 days, fail 7 days before a certificate's end date."""
        from bbx.certificate_watch import run

        return run()

    check_certificates()


bbx_certificate_watch()
