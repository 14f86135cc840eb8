"""Delivery end to end: 100,000 standard-text messages, about 40 % subscribed, from an
accepted submission to every outcome final, on a real Airflow with the LocalExecutor.

Target (issue 17): 1,000,000 rows in <= 60 s on the 2-core machine (issue 5: 100,000 in <= 5
minutes), the simulator without added
latency. This script

1. makes fresh databases (``bbx_bench_delivery`` for BBX, ``bbx_bench_delivery_af`` for
   Airflow) on the configured server, applies the sample configuration (without the
   four-eyes threshold of ``voorbeeld``: a held submission waits for a person, not for
   BBX) and, unless ``--attachments``, without PASPRT's two standard PDFs (standard text
   only, as ``bench_send``: with them every 1,000-message batch is 48 MB), and seeds the
   register of connection ``voorbeeld`` with 40 % of the citizens (untimed);
2. starts the platform the way ``make demo`` does (``bbx.stack``: the simulator with
   result delay 0, no faults and the same 40 % subscribed; the SFTP server for the
   result files; Airflow's api-server, scheduler, dag-processor and triggerer with the
   LocalExecutor, parallelism 8, pool ``berichtenbox`` 4 slots, Connections registered by
   ``bbx airflow setup``); waits until ``bbx_deliver`` is parsed and unpaused (untimed);
3. **timed**: hands in the submission (100,000 rows through ``bbx.store.submissions``,
   as every channel does), triggers ``bbx_deliver`` through the REST API (as intake's
   asset event would; the ``airflow dags trigger`` CLI took 45 s to start at load 24), and
   waits until the submission is closed and its result file is in the tenant's outbox;
4. prints the timeline (hand-in, plan, last batch acknowledged, last result, closed,
   result file written), messages/s, the peak RSS per component and of all processes
   together (sampled /proc, plus ``resource.getrusage`` of the children), and checks
   the counts and the simulator's boxes.

Run: ``.venv/bin/python bench/bench_delivery_e2e.py`` (``--rows N``, ``--subscribed 0.4``,
``--keep`` leaves databases and the work folder).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from _common import (  # noqa: F401 (bench_soak imports prepare_databases from here)
    DB_PREFIX,
    lift_four_eyes,
    prepare_databases,
    standard_text_only,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONNECTION = "voorbeeld"
MESSAGE_TYPE = "PASPRT"


def _with_db(url: str, name: str) -> str:
    """Database ``name`` (with ``BBX_BENCH_DB_PREFIX``) on the server of ``url``."""
    from bbx.store.db import sibling_url

    return sibling_url(url, DB_PREFIX + name)


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sampler(threading.Thread):
    """Peak RSS per component (every process of the service's session) and in total."""

    def __init__(self, state_dir: Path):
        from bbx import stack

        super().__init__(daemon=True)
        self.sessions = stack.read_pids(state_dir)
        self.peak: dict[str, float] = dict.fromkeys(self.sessions, 0.0)
        self.peak_total = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        from bbx import stack

        while not self.stop.wait(0.25):
            total = 0.0
            for name, sid in self.sessions.items():
                rss = sum(_rss_mb(pid) for pid in stack._session_members(sid))
                self.peak[name] = max(self.peak[name], rss)
                total += rss
            self.peak_total = max(self.peak_total, total + _rss_mb(os.getpid()))


def start_platform(work: Path, bbx_url: str, af_url: str, subscribed: list[str],
                   extra_env: dict[str, str] | None = None):
    """The platform as ``make demo`` starts it (``bbx.stack``), tuned for the bench:
    no population in the simulator (only the subscribed citizens), no result delay,
    LocalExecutor parallelism 8, pool ``berichtenbox`` 4 slots, DAGs paused at creation
    (``extra_env``: more environment for every component, e.g. the demo's timings)."""
    from bbx import stack
    from simulator.config import senders_from_tenants

    s = stack.StackSettings.default(
        bbx_url=bbx_url, airflow_url=af_url, state_dir=work / "stack", airflow_home=work / "airflow_home",
        api_port=stack.free_port(), population_size=0, result_delay=0.0, register_delay=0.0,
        parallelism=8, pool_slots=4, paused_at_creation=True,
        extra_env={"BBX_KEY_FILE": str(work / "content.key"), "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                   **(extra_env or {})})
    running = stack.start(s, say=lambda line: print(f"  {line}", flush=True))
    admin = running.admin()
    admin.http.timeout = 300
    oin = next(x["oin"] for x in senders_from_tenants(s.tenants_file) if x["cpa_id"].startswith("cpa-gemeente-voorbeeld"))
    for start in range(0, len(subscribed), 20_000):
        admin.subscribe(oin, subscribed[start:start + 20_000], date(2020, 1, 1))
    return running, admin


def hand_in(bbx_url: str, numbers: list[str]) -> int:
    from bbx.store import administration, db, handins, submissions

    with db.transaction(bbx_url) as conn:
        connection = administration.connection_by_code(conn, CONNECTION)
        found = handins.message_type(conn, connection["id"], MESSAGE_TYPE)  # with its standard-text version
        type_id = found["id"]
        sub = submissions.open_submission(conn, connection_id=connection["id"], channel="sftp",
                                          external_ref=f"bench-{time.time_ns()}", submitted_by="bench",
                                          message_type_id=type_id)
        submissions.add_rows(conn, sub.id, connection_code=CONNECTION, connection_id=connection["id"],
                             message_type_id=type_id,
                             standard_text_version_id=found["standard_text_version_id"],
                             rows=(submissions.NewRow(i, b) for i, b in enumerate(numbers, 1)))
        submissions.accept(conn, sub.id, rows_handed_in=len(numbers), actor="bench")
    return sub.id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--subscribed", type=float, default=0.4)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--attachments", action="store_true",
                        help="keep PASPRT's two standard PDFs (~48 MB a batch); default standard text only")
    parser.add_argument("--json", action="store_true", help="print a BENCHROW line for bench/run_all.py")
    args = parser.parse_args(argv)

    from bbx import settings

    base = settings.database_url()
    bbx_url, af_url = _with_db(base, "bbx_bench_delivery"), _with_db(base, "bbx_bench_delivery_af")
    work = Path(tempfile.mkdtemp(prefix="bbx-bench-delivery-"))
    os.environ["BBX_KEY_FILE"] = str(work / "content.key")
    from bbx import crypto

    crypto.create_key_file()
    print(f"work folder {work}", flush=True)
    t = time.monotonic()
    numbers, subscribed = prepare_databases(bbx_url, af_url, args.rows, args.subscribed)
    lift_four_eyes(bbx_url, CONNECTION)  # 100,000 rows would wait for a second person
    if not args.attachments:
        standard_text_only(bbx_url, CONNECTION, MESSAGE_TYPE)
    print(f"databases ready ({len(numbers):,} citizens, {len(subscribed):,} in the register): "
          f"{time.monotonic() - t:.1f} s", flush=True)

    running = None
    sampler = None
    finished = False  # set at the end of the timed part: anything else keeps the logs
    try:
        t = time.monotonic()
        running, admin = start_platform(work, bbx_url, af_url, subscribed)
        sampler = Sampler(running.state_dir)
        sampler.start()
        running.api().wait_for_dags(["bbx_deliver"], timeout=600)
        logs = running.state_dir / "logs"
        print(f"platform up (simulator, SFTP, metadata DB migrated, 4 Airflow components, bbx_deliver parsed): "
              f"{time.monotonic() - t:.1f} s", flush=True)

        # ------------------------------------------------------------------ timed
        started = time.monotonic()
        submission_id = hand_in(bbx_url, numbers)
        handed_in = time.monotonic() - started
        running.api().trigger("bbx_deliver")
        from bbx.store import db

        closed_at = None
        with db.connect(bbx_url) as conn:
            while time.monotonic() - started < args.timeout:
                row = conn.execute("SELECT status, results_written_at FROM submissions WHERE id = %s",
                                   (submission_id,)).fetchone()
                conn.commit()
                if row["status"] == "closed" and row["results_written_at"] is not None:
                    closed_at = time.monotonic() - started
                    break
                time.sleep(0.5)
            if closed_at is None:
                raise SystemExit(f"not finished within {args.timeout:.0f} s; see {logs}")
            timeline = conn.execute(
                """SELECT s.received_at,
                          (SELECT min(b.created_at) FROM batches b WHERE b.submission_id = s.id) AS planned,
                          (SELECT max(b.sent_at) FROM batches b WHERE b.submission_id = s.id) AS last_sent,
                          (SELECT max(b.result_at) FROM batches b WHERE b.submission_id = s.id) AS last_result,
                          s.closed_at, s.results_written_at,
                          (SELECT count(*) FROM batches b WHERE b.submission_id = s.id) AS batches
                   FROM submissions s WHERE s.id = %s""",
                (submission_id,),
            ).fetchone()
            counts = {r["outcome"]: r["n"] for r in conn.execute(
                "SELECT outcome, count(*) AS n FROM messages WHERE submission_id = %s GROUP BY outcome",
                (submission_id,))}
        stats = admin.stats()
        finished = True
    finally:
        if sampler is not None:
            sampler.stop.set()
            sampler.join(2)
        if running is not None:
            from bbx import stack

            stack.stop(running.state_dir, quiet=True)
        if not finished:
            # a failed or timed-out run keeps its work folder and databases: the stack's
            # logs (scheduler, dag-processor, triggerer, api-server, simulator) and the
            # task logs under airflow_home/logs are what says why
            print(f"run did not finish: kept {work} (stack logs {work / 'stack' / 'logs'}, "
                  f"task logs {work / 'airflow_home' / 'logs'}), databases {bbx_url.split('?')[0]} "
                  f"and {af_url.split('?')[0]}", flush=True)
        elif not args.keep:
            import shutil

            from bbx.store import db as store_db

            for url in (bbx_url, af_url):
                store_db.drop_database(url)
            shutil.rmtree(work, ignore_errors=True)

    children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    t0 = timeline["received_at"]

    def since(moment) -> str:
        return f"{(moment - t0).total_seconds():7.1f} s" if moment else "      -"

    sent = counts.get("delivered", 0) + counts.get("failed", 0)
    print()
    kind = "standard text + 2 standard PDFs" if args.attachments else "standard-text"
    print(f"delivery end to end: {args.rows:,} {kind} messages, {args.subscribed:.0%} subscribed, "
          "LocalExecutor, simulator without added latency")
    print(f"  hand-in (all rows written, accepted)            {handed_in:7.1f} s   (from the start)")
    print("  then bbx_deliver triggered (REST API); below: seconds after the submission was received")
    print(f"  first batch planned                             {since(timeline['planned'])}")
    print(f"  last batch acknowledged                         {since(timeline['last_sent'])}")
    print(f"  last result recorded                            {since(timeline['last_result'])}")
    print(f"  submission closed                               {since(timeline['closed_at'])}")
    print(f"  result file in the outbox                       {since(timeline['results_written_at'])}")
    print(f"  TOTAL, hand-in to all outcomes final + file     {closed_at:7.1f} s   (issue 17: <= 60 s for 1M rows)")
    print(f"  outcomes: {counts}   batches: {timeline['batches']}")
    print(f"  throughput: {args.rows / closed_at:,.0f} rows/s handed in → final; {sent / closed_at:,.0f} messages/s sent")
    print(f"  simulator: {stats['delivered']:,} delivered, {stats['batches']} batches, "
          f"{stats['bericht_ids_received_more_than_once']} BerichtIDs received twice")
    print("  peak RSS (MB, process + descendants): "
          + ", ".join(f"{k} {v:,.0f}" for k, v in sampler.peak.items())
          + f"; all together {sampler.peak_total:,.0f}; largest child (getrusage) {children_peak:,.0f}")
    ok = (counts.get("delivered", 0) == len(subscribed) and counts.get("not_subscribed", 0) == args.rows - len(subscribed)
          and stats["delivered"] == len(subscribed))
    print(f"  check: {'OK' if ok else 'MISMATCH'} (delivered = subscribed, exactly once in the boxes)")
    from _common import emit_row

    emit_row(args.json, stage=f"end to end, {args.rows:,} rows ({args.subscribed:.0%} subscribed), LocalExecutor",
             bbx=f"{closed_at:.1f} s", baseline="- (its parts: rows above)", ratio=None,
             rss_mb=sampler.peak_total, target="<= 60 s" if args.rows >= 1_000_000 else "(60 s at 1M)",
             met=ok and closed_at <= 60 * args.rows / 1_000_000)
    if args.keep:
        print(f"  kept: {work}, databases {bbx_url.split('?')[0]} and {af_url.split('?')[0]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
