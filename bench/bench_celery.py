"""BBX on the CeleryExecutor (issue 15): workers come and go, nothing is lost; and scaling.

The stack is the one ``make stack EXECUTOR=celery`` starts (``bbx.stack``): Redis as the
broker (127.0.0.1:6379, a DB number and key prefix of its own), the metadata database as
the result backend, scheduler, dag-processor, triggerer, api-server, one Celery worker on
the ``default`` queue (plan, intake, register) and N workers on ``berichtenbox`` (send,
collect results), ``--concurrency`` processes each, the pool ``berichtenbox``
(``--pool-slots``) as the global cap on concurrent sends.

1. **Worker loss** (``--messages``, default 200,000): the messages are handed in over the
   sample's three connections (voorbeeld, pf_metaal, pf_zorg; ``--submissions`` per
   connection), ``bbx_deliver`` is triggered, and while it sends one ``berichtenbox``
   worker is killed (``kill -9`` of its whole session: pool processes and the tasks they
   run) and a replacement started, and once the scheduler (restarted). Then it waits until
   every submission is closed, its result file written and no result is left unread, and
   checks every message against the simulator's boxes (``bench_soak.compare``): lost,
   delivered twice, wrong outcomes — all must be 0.
2. **Scaling** (``--scaling-messages``, 0 to skip): the same workload without faults on a
   fresh stack with 1 and then with 2 sending workers; both times and the ratio, and where
   the time goes (plan + build, send, results, close).

The simulator adds ``--latency`` seconds before every service request: the adapter's
(Logius's) intake rate, which is the real limit in production, not BBX.

Run: ``.venv/bin/python bench/bench_celery.py`` (``--messages 20000 --scaling-messages
20000`` for a quicker run). Databases ``bbx_celery_bench`` and ``bbx_celery_bench_af`` are
made anew for each stack.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import compare_with_boxes as compare  # noqa: E402
from _common import fresh_database, seed_register  # noqa: E402

# (connection, message type with a standard text) of the sample configuration
CONNECTIONS = (("voorbeeld", "PASPRT"), ("pf_metaal", "UPO2026"), ("pf_zorg", "UPO2026"))
SECOND_OPERATOR = "bench-second-operator"  # approves four-eyes holds (see wait_until_closed)
APPROVALS: list[int] = []  # submissions approved so, for the report
SEND_QUEUE = "berichtenbox"


def prepare(bbx_url: str, af_url: str, messages: int, share: float) -> dict[str, tuple[list[str], list[str]]]:
    """Fresh databases; per connection its citizens (disjoint) and the subscribed ones in
    BBX's register. Returns ``{connection: (numbers, subscribed)}``."""
    from bbx.domain import bsn as bsn_rules
    from bbx.store import db

    db.drop_database(af_url)
    db.ensure_database(af_url)
    fresh_database(bbx_url)
    numbers = list(bsn_rules.generate(messages, seed=15))
    per = -(-messages // len(CONNECTIONS))
    plan = {}
    for i, (code, _) in enumerate(CONNECTIONS):
        mine = numbers[i * per:(i + 1) * per]
        subscribed = mine[: int(len(mine) * share)]
        plan[code] = (mine, subscribed)
        seed_register(bbx_url, code, subscribed)
    return plan


def start_stack(work: Path, bbx_url: str, af_url: str, plan: dict, *, send_workers: int, concurrency: int,
                pool_slots: int, extra_env: dict | None = None):
    """The Celery stack of ``make stack EXECUTOR=celery``, tuned for a run that kills
    things: a dead worker's task is noticed after 60 s without heartbeat (default 300)."""
    from bbx import stack
    from simulator.config import senders_from_tenants

    s = stack.StackSettings.default(
        bbx_url=bbx_url, airflow_url=af_url, state_dir=work / "stack", airflow_home=work / "airflow_home",
        api_port=stack.free_port(), population_size=0, result_delay=0.0, register_delay=0.0,
        parallelism=32, pool_slots=pool_slots, paused_at_creation=True, executor="celery",
        celery_workers=("default", *[SEND_QUEUE] * send_workers), worker_concurrency=concurrency,
        redis_db=int(os.environ.get("BBX_CELERY_REDIS_DB", "4")),
        extra_env={"BBX_KEY_FILE": str(work / "content.key"),
                   "BBX_RESULT_POLL_SECONDS": "3",
                   "BBX_BATCHES_PER_SLICE": "1",
                   "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
                   "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "20",
                   "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
                   **(extra_env or {})})
    running = stack.start(s, say=lambda line: print(f"  {line}", flush=True))
    admin = running.admin()
    admin.http.timeout = 300
    oins = {x["cpa_id"]: x["oin"] for x in senders_from_tenants(s.tenants_file)}
    from bbx.store import administration, db

    with db.connect(bbx_url) as conn:
        for code, (_, subscribed) in plan.items():
            oin = administration.connection_by_code(conn, code)["oin"]
            assert oin in oins.values(), oin
            for start in range(0, len(subscribed), 20_000):
                admin.subscribe(oin, subscribed[start:start + 20_000], date(2020, 1, 1))
    running.api().wait_for_dags(["bbx_deliver", "bbx_collect_results"],
                                keep_paused=())
    return running, admin


def hand_in(bbx_url: str, plan: dict, submissions_per_connection: int) -> list[int]:
    """Every connection's citizens as ``submissions_per_connection`` accepted submissions
    (through ``bbx.store.submissions``, as every channel does)."""
    from bbx.store import administration, db, handins, submissions

    ids = []
    with db.transaction(bbx_url) as conn:
        for code, message_type in CONNECTIONS:
            numbers = plan[code][0]
            connection = administration.connection_by_code(conn, code)
            found = handins.message_type(conn, connection["id"], message_type)  # with its standard-text version
            type_id = found["id"]
            size = -(-len(numbers) // submissions_per_connection)
            for part in range(submissions_per_connection):
                chunk = numbers[part * size:(part + 1) * size]
                if not chunk:
                    continue
                sub = submissions.open_submission(conn, connection_id=connection["id"], channel="sftp",
                                                  external_ref=f"celery-{code}-{part}-{time.time_ns()}",
                                                  submitted_by="bench", message_type_id=type_id)
                submissions.add_rows(conn, sub.id, connection_code=code, connection_id=connection["id"],
                                     message_type_id=type_id,
                                     standard_text_version_id=found["standard_text_version_id"],
                                     rows=(submissions.NewRow(i, b) for i, b in enumerate(chunk, 1)))
                submissions.accept(conn, sub.id, rows_handed_in=len(chunk), actor="bench")
                ids.append(sub.id)
    return ids


class Chaos(threading.Thread):
    """While ``bbx_deliver`` sends: ``kill -9`` one berichtenbox worker that runs a task
    (its whole session) and start a replacement on the same queue; then, if asked, the
    scheduler (restarted, as a supervisor would)."""

    def __init__(self, running, af_url: str, *, kill_scheduler: bool, delay: float = 5.0):
        super().__init__(daemon=True)
        self.running, self.af_url, self.kill_scheduler, self.delay = running, af_url, kill_scheduler, delay
        self.stop = threading.Event()
        self.done: list[str] = []

    def _sending(self) -> int:
        import psycopg

        with psycopg.connect(self.af_url) as conn:
            return conn.execute("SELECT count(*) FROM task_instance WHERE dag_id = 'bbx_deliver' "
                                "AND task_id = 'send' AND state = 'running'").fetchone()[0]

    def _busiest_send_worker(self) -> tuple[str, int] | None:
        """The berichtenbox worker with a task process running (more processes in its
        session than the main process and its pool)."""
        from bbx import stack

        idle = 1 + self.running.worker_concurrency
        candidates = []
        for name, sid in self.running.workers().items():
            members = len(stack._session_members(sid))
            if self.running.worker_queues(name) == SEND_QUEUE and members > idle:
                candidates.append((members, name))
        return (max(candidates)[1], max(candidates)[0]) if candidates else None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + 900
            if self.stop.wait(self.delay):
                return
            while time.monotonic() < deadline and not self.stop.is_set():
                victim = self._busiest_send_worker() if self._sending() else None
                if victim:
                    killed = self.running.kill_worker(victim[0])
                    self.done.append(f"kill -9 {victim[0]} ({killed} processes, while sending)")
                    time.sleep(2)
                    name = self.running.start_worker(SEND_QUEUE)
                    self.done.append(f"replacement {name} on {SEND_QUEUE}")
                    break
                time.sleep(0.3)
            else:
                self.done.append("no worker caught sending: none killed")
            if self.kill_scheduler and not self.stop.wait(5):
                killed = self.running.kill_service("scheduler")
                self.done.append(f"kill -9 scheduler ({killed} processes)")
                time.sleep(2)
                self.running.restart_airflow_component("scheduler")
                self.done.append("scheduler restarted")
        except Exception as exc:  # noqa: BLE001 - reported; the run's checks decide
            self.done.append(f"chaos failed: {exc!r}")


def wait_until_closed(running, admin, bbx_url: str, submission_ids: list[int], timeout: float,
                      chaos: Chaos | None = None) -> float | None:
    """Seconds until every submission is closed, its result file written and the
    simulator holds no unread result (None after ``timeout``)."""
    import subprocess

    from bbx.delivery import holds
    from bbx.store import db
    from bbx.store import holds as holds_store

    started = time.monotonic()
    last_collect = 0.0
    with db.connect(bbx_url) as conn:
        while time.monotonic() - started < timeout:
            # A submission above its connection's approval_threshold waits for four-eyes
            # approval (a person other than the submitter). The bench plays that second
            # operator, as a deployment's operator would in Required actions, and asks for
            # the next delivery run at once instead of the 5-minute timer.
            reviews = [r for rs in holds_store.open_reviews(conn, submission_ids).values() for r in rs
                       if r["kind"] == "four_eyes"]
            conn.commit()
            for r in reviews:
                holds.decide(r["id"], approve=True, by=SECOND_OPERATOR, url=bbx_url)
                APPROVALS.append(r["submission_id"])
            if reviews:
                subprocess.run([sys.executable, "-m", "airflow", "dags", "trigger", "bbx_deliver"],
                               env={**os.environ, **running.env}, capture_output=True)
            state = conn.execute(
                """SELECT count(*) FILTER (WHERE status = 'closed' AND results_written_at IS NOT NULL) AS done,
                          count(*) AS n FROM submissions WHERE id = ANY(%s)""", (submission_ids,)).fetchone()
            conn.commit()
            if state["done"] == state["n"] and (chaos is None or not chaos.is_alive()):
                if admin.stats()["inbound_unprocessed"] == 0:
                    return time.monotonic() - started
                if time.monotonic() - last_collect > 30:
                    # results left after every submission closed: what bbx_collect_results
                    # does every 10 minutes, asked for now
                    subprocess.run([sys.executable, "-m", "airflow", "dags", "trigger", "bbx_collect_results"],
                                   env={**os.environ, **running.env}, capture_output=True)
                    last_collect = time.monotonic()
            time.sleep(1)
    return None


def timeline(bbx_url: str, submission_ids: list[int], t0) -> dict[str, float]:
    """Where the time went, seconds after ``t0`` (the trigger)."""
    from bbx.store import db

    with db.connect(bbx_url) as conn:
        row = conn.execute(
            """SELECT min(b.created_at) AS first_planned, max(b.created_at) AS last_built,
                      min(b.sent_at) AS first_sent, max(b.sent_at) AS last_sent,
                      max(b.result_at) AS last_result, count(*) AS batches,
                      (SELECT max(closed_at) FROM submissions WHERE id = ANY(%s)) AS closed,
                      (SELECT max(results_written_at) FROM submissions WHERE id = ANY(%s)) AS written
               FROM batches b WHERE b.submission_id = ANY(%s)""",
            (submission_ids, submission_ids, submission_ids)).fetchone()
    out = {k: (v - t0).total_seconds() for k, v in row.items() if k != "batches" and v is not None}
    out["batches"] = row["batches"]
    return out


def run_once(*, messages: int, submissions: int, share: float, send_workers: int, concurrency: int,
             pool_slots: int, latency: float, timeout: float, chaos: bool, kill_scheduler: bool,
             keep: bool = False, extra_env: dict | None = None, say=print) -> dict:
    """One workload on a fresh Celery stack; returns figures and the check."""
    from datetime import UTC, datetime

    from bbx import crypto, settings, stack

    base = settings.database_url()
    from bbx.store.db import drop_database, sibling_url

    bbx_url = sibling_url(base, os.environ.get("BBX_CELERY_BENCH_DB", "bbx_celery_bench"))
    af_url = sibling_url(base, os.environ.get("BBX_CELERY_BENCH_DB", "bbx_celery_bench") + "_af")
    work = Path(tempfile.mkdtemp(prefix="bbx-celery-"))
    os.environ["BBX_KEY_FILE"] = str(work / "content.key")
    crypto.create_key_file()
    plan = prepare(bbx_url, af_url, messages, share)
    running = None
    killer = None
    try:
        running, admin = start_stack(work, bbx_url, af_url, plan, send_workers=send_workers,
                                     concurrency=concurrency, pool_slots=pool_slots, extra_env=extra_env)
        if latency:
            admin.set_faults(latency=latency)
        api = running.api()
        t0 = datetime.now(UTC)
        started = time.monotonic()
        submission_ids = hand_in(bbx_url, plan, submissions)
        handed_in = time.monotonic() - started
        api.trigger("bbx_deliver", logical_date=None)
        if chaos:
            killer = Chaos(running, af_url, kill_scheduler=kill_scheduler)
            killer.start()
        closed = wait_until_closed(running, admin, bbx_url, submission_ids, timeout, killer)
        elapsed = time.monotonic() - started
        result = compare(bbx_url, admin, submission_ids)
        result.update(timeline=timeline(bbx_url, submission_ids, t0), handed_in=handed_in, closed=closed,
                      elapsed=elapsed, chaos=killer.done if killer else [], submissions=len(submission_ids),
                      workers=send_workers, concurrency=concurrency, pool_slots=pool_slots)
        return result
    finally:
        if killer is not None:
            killer.stop.set()
            killer.join(10)
        if running is not None:
            stack.stop(running.state_dir, quiet=True)
        if not keep:
            for url in (bbx_url, af_url):
                drop_database(url)
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"  kept {work}")


def ok(result: dict) -> bool:
    return (result["closed"] is not None and result["lost"] == 0 and result["twice"] == 0
            and result["wrong"] == 0)


def report(title: str, r: dict) -> None:
    t = r["timeline"]
    print(f"{title}: {r['messages']:,} messages in {r['submissions']} submissions over {len(CONNECTIONS)} connections; "
          f"{r['workers']} berichtenbox worker(s) × {r['concurrency']} processes, pool berichtenbox "
          f"{r['pool_slots']} slots")
    print(f"  {'all closed, result files written' if r['closed'] else 'NOT FINISHED'}: wall time {r['elapsed']:,.1f} s "
          f"(hand-in {r['handed_in']:.1f} s), {r['messages'] / r['elapsed']:,.0f} messages/s")
    print("  where the time goes (s after the trigger): "
          f"first batch planned {t.get('first_planned', 0):.1f}, last built {t.get('last_built', 0):.1f}, "
          f"first sent {t.get('first_sent', 0):.1f}, last sent {t.get('last_sent', 0):.1f}, "
          f"last result {t.get('last_result', 0):.1f}, last closed {t.get('closed', 0):.1f}, "
          f"last file {t.get('written', 0):.1f}; {t['batches']} batches")
    if r["chaos"]:
        print(f"  chaos: {'; '.join(r['chaos'])}")
    if APPROVALS:
        print(f"  four-eyes: {len(APPROVALS)} submission(s) above the approval threshold approved by "
              f"{SECOND_OPERATOR} (a second person), then bbx_deliver triggered")
        APPROVALS.clear()
    print(f"  outcomes: {r['counts']}")
    print(f"  lost {r['lost']} / delivered twice {r['twice']} / wrong outcomes {r['wrong']}"
          + (f"   e.g. {r['examples']}" if r["examples"] else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--scaling-messages", type=int, default=None, help="default: --messages; 0 skips")
    parser.add_argument("--submissions", type=int, default=4, help="per connection")
    parser.add_argument("--subscribed", type=float, default=0.95)
    parser.add_argument("--concurrency", type=int, default=2, help="processes per berichtenbox worker")
    parser.add_argument("--pool-slots", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.2, help="simulator: s before every service request")
    parser.add_argument("--timeout", type=float, default=5400)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    common = dict(submissions=args.submissions, share=args.subscribed, concurrency=args.concurrency,
                  pool_slots=args.pool_slots, latency=args.latency, timeout=args.timeout, keep=args.keep)
    results = []
    if args.messages:
        print(f"==> worker loss: {args.messages:,} messages, 2 berichtenbox workers, one killed, then the scheduler",
              flush=True)
        loss = run_once(messages=args.messages, send_workers=2, chaos=True, kill_scheduler=True, **common)
        report("worker loss", loss)
        results.append(ok(loss))
    scaling = args.messages if args.scaling_messages is None else args.scaling_messages
    if scaling:
        runs = {}
        for workers in (1, 2):
            print(f"==> scaling: {scaling:,} messages, {workers} berichtenbox worker(s)", flush=True)
            runs[workers] = run_once(messages=scaling, send_workers=workers, chaos=False, kill_scheduler=False,
                                     **common)
            report(f"scaling, {workers} worker(s)", runs[workers])
            results.append(ok(runs[workers]))
        one, two = runs[1]["elapsed"], runs[2]["elapsed"]
        print(f"scaling: 1 worker {one:,.1f} s, 2 workers {two:,.1f} s, ratio {one / two:.2f}× "
              f"(berichtenbox queue: {args.concurrency} processes per worker, pool {args.pool_slots} slots, "
              f"simulator latency {args.latency} s per request, {os.cpu_count()} cores)")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
