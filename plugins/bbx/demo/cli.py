"""``make demo`` (``python -m bbx.demo``): set-up, the platform, the register, the drops,
intake → delivery → results, the report."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import bbx.demo
from bbx import stack as stack_module
from bbx.config.model import load
from bbx.demo.common import (
    DEMO_DIR,
    DEMO_TIMINGS,
    EXIT_FAILED,
    EXIT_MEANING,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    SAMPLE_CONFIG,
    step,
)
from bbx.demo.drops import DropError, own_drop, sample_drops, upload
from bbx.demo.receiver import register_receiver
from bbx.demo.register import _register_done, last_register_day, register_days
from bbx.demo.report import copy_outboxes, print_report, submission_report
from bbx.demo.tour_common import CONNECTION as CALLBACK_CONNECTION  # the tour checks its callbacks
from bbx.stack.prepare import prepare as prepare_bbx
from bbx.store import administration, db


def prepare(config_file: Path = SAMPLE_CONFIG) -> str:
    """Database, migrations, key, configuration (as ``python -m bbx.stack start``)."""
    return prepare_bbx(config_file, say=step)


def show_configuration(url: str) -> None:
    with db.connect(url) as conn:
        rows = administration.describe(conn)
    step(f"configured: {len({r['tenant'] for r in rows})} tenants, {len(rows)} connections")
    for row in rows:
        print(f"    {row['tenant']:<20} {row['connection']:<12} OIN {row['oin']}  {row['sftp_folder']:<32} "
              f"types: {row['message_types']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=bbx.demo.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(SAMPLE_CONFIG), help="tenant configuration file")
    parser.add_argument("--drop", help="a drop folder of your own (docs/drop-protocol.md) instead of the samples")
    parser.add_argument("--connection", default="voorbeeld", help="connection that receives --drop (default voorbeeld)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for all outcomes once nothing runs or changes any more")
    parser.add_argument("--register-days", type=int, default=2,
                        help="simulated days of register refreshes on a fresh register (default 2)")
    parser.add_argument("--result-dialect", choices=("live", "documented"), default="live",
                        help="how the simulator writes results (default live: VerwerkingsCode 00 as a live "
                             "adapter does; documented: as interface.md §3); used when the stack starts")
    args = parser.parse_args(argv)
    config_file = Path(args.config).resolve()
    begin = time.monotonic()

    url = prepare(config_file)
    show_configuration(url)
    tenants = load(config_file).tenants
    if args.drop:
        try:
            own = own_drop(tenants, Path(args.drop), args.connection)
        except DropError as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    # DAGs start paused: the demo unpauses them once parsed (the register refresh after
    # its first runs are queued, see register_days)
    settings_ = stack_module.StackSettings.default(bbx_url=url, tenants_file=config_file, extra_env=DEMO_TIMINGS,
                                                   result_dialect=args.result_dialect,
                                                   paused_at_creation=True)
    try:
        stack = stack_module.start(settings_, say=step)
        api = stack.api()
        dag_ids = ["bbx_register_refresh", "bbx_deliver", "bbx_collect_results", "bbx_callbacks"]
        dag_ids += [f"bbx_ingest__{c.code}" for t in tenants for c in t.connections]
        fresh_register = not _register_done(url)
        api.wait_for_dags(dag_ids, keep_paused=("bbx_register_refresh",) if fresh_register else ())
        step(f"DAGs parsed and unpaused: {', '.join(dag_ids)}")
        step(f"status callbacks of {CALLBACK_CONNECTION} to the stack's receiver {stack.callback_url}: "
             f"{register_receiver(stack, url, CALLBACK_CONNECTION)} "
             f"(secret: Airflow Variable {stack.callback_secret_variable})")
    except stack_module.StackError as exc:
        print(f"the platform did not start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    started = datetime.now(UTC)

    if fresh_register:
        from bbx import demo_population

        # issue 16: voorbeeld's population goes in before its first register export
        admin = stack.admin()
        try:
            population = demo_population.population_drops(admin, tenants)
        finally:
            admin.close()
        for tenant_code, connection_code, inbox, files in population:
            upload(stack, tenant_code, inbox, [("file", name, content) for name, content in files.items()])
            step(f"{tenant_code} dropped its population list into {inbox} over SFTP ({connection_code})")
            if not _intake(api, connection_code, api.trigger(f"bbx_ingest__{connection_code}")):
                return EXIT_FAILED
        step(f"register over {args.register_days} simulated days (bbx_register_refresh, run by the scheduler)")
        register_days(stack, api, url, args.register_days, sum(len(t.connections) for t in tenants))
    else:
        step(f"register: already refreshed for {last_register_day()}")

    drops = own if args.drop else sample_drops(stack, tenants, url)
    for tenant_code, connection_code, inbox, entries in drops:
        refused = upload(stack, tenant_code, inbox, entries)
        step(f"{tenant_code} dropped {len(entries)} entries into {inbox} over SFTP ({connection_code})")
        if refused:
            for line in refused:
                print(f"    {line}", file=sys.stderr)
            print("the drop was not handed in (no READY marker), as a tenant's SFTP client would fail; "
                  "`bbx intake check FOLDER` names every problem", file=sys.stderr)
            return EXIT_REJECTED

    step("intake (bbx_ingest__<connection>), then delivery on intake's asset event (bbx_deliver) and results")
    runs = {code: api.trigger(f"bbx_ingest__{code}") for code in sorted({d[1] for d in drops})}
    for code, run_id in runs.items():
        if not _intake(api, code, run_id):
            return EXIT_FAILED
    subs = _wait_outcomes(api, url, started, args.timeout)
    if subs is None:
        return EXIT_FAILED

    reconciled = print_report(subs)
    for run in api.runs("bbx_deliver", limit=5):
        if run["start_date"] and run["start_date"] >= started.isoformat():
            print(f"    bbx_deliver {run['dag_run_id']}: {run['state']} ({run['run_type']})")
    copy_outboxes(stack, tenants)
    print()
    print(f"Airflow UI:   {stack.api_url}   sign in as {stack_module.ADMIN_USER} / {stack.password}")
    print(f"BBX pages:    {stack.api_url}/bbx/send   (as admin from the Airflow menu, or a person's account: "
          f"bbx users add NAME --role tenant --tenant CODE)   API docs: {stack.api_url}/bbx/api/v1/docs")
    print(f"Logs and pid files: {stack.state_dir}/   Stop everything: make stop")
    print(f"make demo took {time.monotonic() - begin:.0f} s")
    if not subs:
        print("no submission was handed in (see the intake runs in the UI)", file=sys.stderr)
        return EXIT_FAILED
    if args.drop and all(s["status"] == "rejected" for s in subs):
        print("your drop was rejected by intake, as designed: see the report in demo-out/", file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK if reconciled else EXIT_FAILED


def _intake(api, connection_code: str, run_id: str) -> bool:
    """Wait on an intake run for as long as Airflow has it queued or running; False (the
    run and its failed tasks' logs said) when it failed."""
    dag_id = f"bbx_ingest__{connection_code}"
    try:
        state = api.await_run(dag_id, run_id, say=lambda line: print(f"    {line}", flush=True))
    except stack_module.StackError as exc:
        print(f"    {exc}", file=sys.stderr, flush=True)
        return False
    print(f"    {dag_id} {run_id}: {state}", flush=True)
    return True


DELIVERY_DAGS = ("bbx_deliver", "bbx_collect_results")


def _wait_outcomes(api, url: str, started: datetime, idle: float, limit: float = 3600) -> list[dict] | None:
    """Wait for every submission to close: as long as a delivery run is queued or running,
    or the submissions still change (at most ``limit`` s), and ``idle`` s beyond that. None
    (said with the run and its failed tasks' logs) as soon as a bbx_deliver run of this demo failed."""
    begin = last_change = shown = time.monotonic()
    subs = submission_report(url, started)
    while not all(s["status"] in ("closed", "rejected") for s in subs):
        now = time.monotonic()
        runs = [(d, r) for d in DELIVERY_DAGS for r in api.runs(d, limit=10)
                if r["start_date"] and r["start_date"] >= started.isoformat()]
        for dag_id, r in runs:  # bbx_collect_results runs again by itself; a failed delivery does not
            if dag_id == "bbx_deliver" and r["state"] == "failed":
                print(f"    {dag_id} run {r['dag_run_id']} failed: {api.failed_logs(dag_id, r['dag_run_id'])}",
                      file=sys.stderr, flush=True)
                return None
        if any(r["state"] in ("queued", "running") for _d, r in runs):
            last_change = now
        if now - last_change > idle or now - begin > limit:
            break
        if now - shown >= 30:
            shown = now
            still = sum(s["status"] not in ("closed", "rejected") for s in subs)
            print(f"    {still} submission(s) still open ({now - begin:.0f} s), waiting", flush=True)
        time.sleep(1)
        fresh = submission_report(url, started)
        if [(s["status"], s["counts"]) for s in fresh] != [(s["status"], s["counts"]) for s in subs]:
            last_change = time.monotonic()
        subs = fresh
    return subs


def run(argv: list[str] | None = None) -> int:
    """``main`` with its exit code said in words: ``make`` itself only ever exits 0 or 2
    (it shows the code as ``Error N``), so the line says which one it was."""
    code = main(argv)
    print(f"make demo: exit {code} — {EXIT_MEANING.get(code, 'unexpected')}", file=sys.stderr if code else sys.stdout)
    return code
