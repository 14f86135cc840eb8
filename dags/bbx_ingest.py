"""
### bbx_ingest__&lt;connection&gt; — SFTP intake, one DAG per active connection

Generated from the connections in BBX's database (`bbx config apply`). Every few
minutes it looks in the connection's SFTP folder (`<sftp_folder>/inbox/`) for complete
drops (see `docs/drop-protocol.md`) and, per drop (one mapped task each, named by the
drop folder):

1. **receive_drop** — moves the drop `inbox/ → processing/`, hashes every file and logs
   the submission and its files (name, size, sha256); recognises a re-upload of an
   accepted drop (same `drop_id` or same content) and a broken manifest.
2. **validate_drop** — checks the drop and every row at once (BSN 11-test, duplicates,
   BSNs already handed in for this message type, text lengths, personal PDFs and their
   fit with the standard attachments) and writes every row in one transaction:
   accepted rows become planned messages (encrypted personal content), rejected rows
   keep their reason. Error reports go to `outbox/`.
3. **acknowledge_drop** — the acknowledgement (`<drop>.s<N>.ack.json`) to `outbox/`,
   the drop to `archive/`.
4. **announce_accepted** — an event on the `bbx://submissions/accepted` asset (extra:
   the submission ids) when a drop with rows to deliver was accepted, so delivery starts
   at once; skipped otherwise. Runs even when another drop of the run failed.
5. **watch_failures** — skipped when everything went well; when any intake task failed
   (the SFTP server down, a drop that could not be processed) it fails too, so the run
   is red. Without it the run's state would come from `announce_accepted` alone, which
   runs after failures by design and ends skipped or successful: an SFTP outage was
   shown green.

Every task can be cleared and rerun: it continues where the drop is and never writes a
row or a report twice. `bbx_intake_housekeeping` (daily) creates missing folders and
removes archived drops and intake reports after the connection's retention period.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DeltaTriggerTimetable, dag, task

from bbx.assets import ACCEPTED_SUBMISSIONS
from bbx.intake.dags import connections_for_dags
from bbx.intake.settings import POLL_INTERVAL

DROP_LABEL = "{{ drop_label }}"
START = pendulum.datetime(2026, 1, 1, tz="UTC")
DEFAULT_ARGS = {"owner": "bbx", "retries": 2, "retry_delay": timedelta(minutes=1)}


@task
def find_drops(connection_code: str) -> list[dict]:
    from bbx.intake import tasks

    return tasks.find_drops(connection_code)


@task(map_index_template=DROP_LABEL)
def receive_drop(drop: dict) -> dict:
    from bbx.intake import tasks

    return tasks.receive_drop(drop)


@task(map_index_template=DROP_LABEL)
def validate_drop(drop: dict) -> dict:
    from bbx.intake import tasks

    return tasks.validate_drop(drop)


@task(map_index_template=DROP_LABEL)
def acknowledge_drop(drop: dict) -> dict:
    from bbx.intake import tasks

    return tasks.acknowledge_drop(drop)


@task(outlets=[ACCEPTED_SUBMISSIONS], trigger_rule="all_done")
def announce_accepted(connection_code: str, results: list[dict], outlet_events=None) -> list[int]:
    from bbx.intake import tasks

    return tasks.announce_accepted(connection_code, results, outlet_events)


@task(trigger_rule="one_failed")  # fails the run when any intake task failed (AirflowFailException: no retry)
def watch_failures() -> None:
    from bbx.intake import tasks

    tasks.watch_failures()


def ingest_dag(connection: dict):
    code = connection["code"]

    @dag(
        dag_id=f"bbx_ingest__{code}",
        description=f"SFTP intake of {connection['name']} ({connection['sftp_folder']})",
        doc_md=__doc__.replace("&lt;connection&gt;", code),
        schedule=DeltaTriggerTimetable(POLL_INTERVAL),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=6),
        default_args=DEFAULT_ARGS,
        tags=["bbx", "intake", "sftp", connection["tenant_code"]],
    )
    def ingest():
        found = find_drops(code)
        received = receive_drop.expand(drop=found)
        validated = validate_drop.expand(drop=received)
        acknowledged = acknowledge_drop.expand(drop=validated)
        announced = announce_accepted(code, acknowledged)
        [found, received, validated, acknowledged, announced] >> watch_failures()

    return ingest()


@dag(
    dag_id="bbx_intake_housekeeping",
    description="SFTP folders of every connection: create missing ones, purge expired drops and reports",
    doc_md="""
### bbx_intake_housekeeping — SFTP folders and retention

Daily, for every connection: creates missing folders (`inbox/`, `processing/`,
`archive/`, `outbox/`) of active connections, and deletes archived drops (`archive/`) and
intake reports in `outbox/` (`*.ack.json`, `*.errors.csv`, `*.rejected.txt`) older than
the connection's `retention_days` — they hold personal data. The submission log (file
names, sizes, sha256) stays in the database. `purge_content` removes the personal texts
and PDFs of submissions finished longer than `retention_days` ago from BBX's database
(metadata, hashes and outcomes stay; see `docs/privacy.md`), and delivered (30 days) and
failed (90 days) status callbacks from the callback outbox.
""",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["bbx", "intake", "sftp", "housekeeping"],
)
def bbx_intake_housekeeping():
    @task
    def tidy_folders() -> dict:
        from bbx.intake import tasks

        return tasks.tidy_folders()

    @task
    def purge_content() -> dict:
        """Texts and PDFs past retention leave the database (no SFTP needed: runs even
        when the SFTP server is down)."""
        from bbx.intake import tasks

        return tasks.purge_content()

    tidy_folders()
    purge_content()


bbx_intake_housekeeping()
for _connection in connections_for_dags():
    globals()[f"bbx_ingest__{_connection['code']}"] = ingest_dag(_connection)
