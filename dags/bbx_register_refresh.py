"""
### bbx_register_refresh — the daily BSN register refresh

Per active connection (one mapped group each, named by connection code):

1. **request_list** — asks MijnOverheid's subscription service (`GLOBE-R-A-Request`)
   for the *full* list the first time, later for the *changes* since the last applied
   snapshot (`MutatieDatum`). A day that was applied already is not asked again.
2. **wait_for_answer** — reschedule-mode sensor: polls the ebMS adapter for the gzip
   answer (`GLOBE-R-A-Result`, within ~4 h), stores it, acknowledges it. Holds no
   worker slot while waiting.
3. **apply_answer** — streams the answer into the register in one transaction: sign-ups
   open a period, sign-offs close it; history is never overwritten.
4. **export_register** — when the connection asks for it, the day's register as CSV +
   `.sha256` into the tenant's SFTP `outbox/` (skipped otherwise).
5. **check_fresh** — runs whatever happened before: flags a stale register (no
   successful refresh within `register_stale_after_hours`). Bulk sends of that
   connection stop until an operator acknowledges: `bbx register acknowledge CODE --reason ...`.

**Idempotent per logical date**: rerunning a day changes nothing. **Backfill** missed days
with `airflow backfill create --dag-id bbx_register_refresh --from-date … --to-date …
--max-active-runs 1`; any order ends in the same register. Params: `full` (ask for the
full list: rebuild/reconcile), `connections` (limit to these codes). See docs/register.md.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task, task_group

from bbx.assets import REGISTER_REFRESHED
from bbx.deadlines import REGISTER_APPLIED_BY_9, when_enabled
from bbx.domain.localtime import TIMEZONE_NAME
from bbx.domain.register import ANSWER_TIMEOUT, REFRESH_HOUR

POKE_SECONDS = float(os.environ.get("BBX_REGISTER_POKE_SECONDS", "300"))
LABEL = "{{ connection_code }}"


@task(map_index_template=LABEL)
def request_list(connection: dict) -> dict:
    from bbx.register import tasks

    return tasks.request_list(connection)


@task.sensor(mode="reschedule", poke_interval=POKE_SECONDS, timeout=ANSWER_TIMEOUT.total_seconds(),
             map_index_template=LABEL)
def wait_for_answer(connection: dict):
    from bbx.register import tasks

    return tasks.answer_ready(connection)


@task(map_index_template=LABEL, outlets=[REGISTER_REFRESHED])
def apply_answer(connection: dict) -> dict:
    from bbx.register import tasks

    return tasks.apply_answer(connection)


@task(map_index_template=LABEL)
def export_register(connection: dict) -> dict:
    from bbx.register import tasks

    return tasks.export_register(connection)


@task(map_index_template=LABEL, trigger_rule="all_done", retries=1)
def check_fresh(connection: dict) -> dict:
    from bbx.register import tasks

    return tasks.check_fresh(connection)


@task
def active_connections() -> list[dict]:
    from bbx.register import tasks

    return tasks.active_connections()


@task_group(group_id="refresh")
def refresh(connection: dict):
    asked = request_list(connection)
    answered = wait_for_answer(connection)
    applied = apply_answer(connection)
    exported = export_register(connection)
    asked >> answered >> applied >> exported >> check_fresh(connection)


@dag(
    dag_id="bbx_register_refresh",
    schedule=CronTriggerTimetable(f"0 {REFRESH_HOUR} * * *", timezone=TIMEZONE_NAME),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE_NAME),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "bbx", "retries": 3, "retry_delay": timedelta(minutes=5),
                  "retry_exponential_backoff": True},
    params={
        "full": Param(False, type="boolean", title="Full list",
                      description="Ask for the full list instead of the changes (rebuild / reconcile)."),
        "connections": Param([], type="array", items={"type": "string"}, title="Connections",
                             description="Only these connection codes (empty: every active connection)."),
    },
    tags=["bbx", "register"],
    doc_md=__doc__,
    deadline=when_enabled(REGISTER_APPLIED_BY_9),  # not applied by 09:00 Europe/Amsterdam: an alert
)
def bbx_register_refresh():
    refresh.expand(connection=active_connections())


bbx_register_refresh()
