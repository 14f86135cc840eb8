"""bbx_callbacks — posts the tenants' status callbacks from the callback outbox."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

DOC = """
### Status callbacks: one pass every minute

Posts every due event of the callback outbox (submission accepted, closed with counts,
per-message final outcomes in pages of 1000) to its connection's HTTPS URL, signed with
the connection's HMAC secret (`BBX-Signature`). A post without a 2xx is tried again with
exponential backoff (30 s doubling, at most 4 h apart, 12 attempts in all), then listed as
a failed delivery (the connection's Callbacks page, `GET
/api/v1/connections/{c}/callback/failed`, `bbx callbacks failed`; audit `callback.failed`),
where a tenant or operator can retry it ("Retry now" makes it due for the next pass;
`bbx callbacks retry` posts at once). The receiver's certificate is always verified: public
CAs, `BBX_CALLBACK_CA_FILE` and the connection's `callback.ca_file`. The outbox is
written in the same transaction as the change it reports, so a receiver that is down
loses nothing. See `docs/api.md`, "Callbacks".
"""


@dag(
    dag_id="bbx_callbacks",
    schedule=timedelta(minutes=1),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["bbx", "callbacks"],
    default_args={"owner": "bbx", "retries": 1, "retry_delay": timedelta(minutes=1)},
)
def bbx_callbacks():
    @task(execution_timeout=timedelta(minutes=10))
    def deliver() -> dict:
        from bbx.delivery.callbacks import deliver_due

        return deliver_due(limit=500).as_dict()

    deliver()


bbx_callbacks()
