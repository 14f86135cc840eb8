"""The demo's register that changes: ``bbx_register_refresh`` over simulated days."""

from __future__ import annotations

import sys
from datetime import datetime

from bbx.demo.common import EXIT_FAILED
from bbx.domain import register as register_rules
from bbx.stack import Stack
from bbx.stack.processes import StackError
from bbx.store import db
from bbx.store import demo as demo_store


def last_register_day():
    """The last simulated register day: the one rule ``due_register_day`` (today, or
    yesterday before today's 05:00 run is due), shared with the "already refreshed" check."""
    return register_rules.due_register_day(datetime.now(register_rules.TZ))


def register_days(stack: Stack, api, url: str, days: int, connections: int) -> None:
    """The register over ``days`` simulated days up to today: one ``bbx_register_refresh``
    run per day (the first a full list, then each day's changes: real sign-ups and
    sign-offs of the simulator's population), each asked while the simulator's clock
    stands on that day.

    The DAG is held paused (``AirflowApi.hold``: a run the scheduler of ``make stack``
    started is ended, to run again in order), every run is triggered (today's with the
    logical date of today's scheduled run, so the scheduler does not add one of its own;
    a run that exists for a date is cleared and used, said in the output; each with its
    logical date as ``run_after``, the order the scheduler starts them in), then it is
    unpaused; the scheduler runs them in order (``max_active_runs=1``), and the clock moves
    on as soon as the simulator has answered the day's requests."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo


    today = last_register_day()

    def say(line: str) -> None:
        print(f"    {line}", flush=True)

    api.hold("bbx_register_refresh", say=say)
    admin = stack.admin()
    try:
        asked_before = len(admin.register_requests())
        schedule = []
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            # 04:00 UTC: the logical date of the 05:00 Europe/Amsterdam scheduled run (winter time)
            moment = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo("Europe/Amsterdam")).replace(
                hour=register_rules.REFRESH_HOUR)
            schedule.append((day, api.trigger("bbx_register_refresh", logical_date=moment.isoformat(),
                                                    run_after=moment.isoformat(), say=say)))
        admin.set_today(schedule[0][0])
        api.unpause("bbx_register_refresh")
        for n, (day, run_id) in enumerate(schedule, 1):
            # always the explicit day: "today" is the Dutch date, which is not the simulator's
            # own (UTC) date around midnight
            admin.set_today(day)

            def day_answered(n=n) -> bool:  # the simulator answers at once, for its "today"
                answered = [r for r in admin.register_requests()[asked_before:] if r.get("outcome") == "answered"]
                return len(answered) >= connections * n

            # the clock moves on once the day's requests are answered, or the day's run finished
            # (a day applied before is not asked again); until then the run is waited on for as
            # long as Airflow has it queued or running, not a fixed timer; failed: at once
            api.await_run("bbx_register_refresh", run_id, say=say, done=day_answered)
        for day, run_id in schedule:
            print(f"    bbx_register_refresh for {day} ({run_id}): "
                  f"{api.await_run('bbx_register_refresh', run_id, say=say)}", flush=True)
    except StackError as exc:
        print(f"    {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_FAILED) from None
    finally:
        admin.set_today(None)
        admin.close()
    with db.connect(url) as conn:
        rows = demo_store.applied_refreshes_after(conn, today - timedelta(days=days))
    for r in rows:
        print(f"    {r['code']:<12} {r['logical_date']} {r['kind']:<7} entries {r['entries'] or 0:>5}  "
              f"signed up {r['opened'] or 0:>4}  signed off {r['closed'] or 0:>4}")
    print(f"    (the sign-ups and sign-offs: {stack.api_url}/bbx/reports; a citizen's periods: "
          f"{stack.api_url}/bbx/lookup or `bbx register lookup CODE BSN`)")


def _register_done(url: str) -> bool:
    """The register is refreshed for its last day (the demo's shortcut): the same day the
    demo would refresh up to, also before 05:00 Dutch time."""
    with db.connect(url) as conn:
        return demo_store.register_done(conn, last_register_day())
