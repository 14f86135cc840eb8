"""Soak under faults (issue 10, "Done when"): every message ends in exactly one TRUE outcome.

100,000 messages by default (``--messages``), in several submissions, delivered by a real
Airflow (scheduler with the LocalExecutor, dag-processor, triggerer, api-server) through
the simulator, all started the way ``make demo`` does (``bbx.stack``: every service in a
session of its own, pid files, Connections and pool by ``bbx airflow setup``), with this
fault mix:

- ``TechnischProbleem`` for 10 % of the messages (resent with the same BerichtID);
- HTTP 503 for 5 % and dropped connections for 3 % of the service requests;
- the answer lost *after* processing for 3 % (BBX cannot know the batch arrived and sends
  the same BatchID again: the simulator processes it twice);
- 10 % of the results delivered twice; every result 3 s late;

plus ``kill -9`` during the run of running ``send`` tasks, of the scheduler and of the
triggerer (each with every process of its session: the scheduler's LocalExecutor workers
and their task processes, the triggerer's runner; restarted, as a supervisor would).
Transient faults (503, drops) are retried (``bbx.operators.retry``); results are awaited
in the triggerer (``bbx.triggers.results``). Then it waits until every submission is
closed, its result file written and no result is left unread, and compares every message's
outcome in BBX with the simulator's boxes (admin API ``/admin/berichten``):

- *wrong outcomes*: BBX says delivered but the BerichtID is in no box, or BBX says
  not delivered (failed / not subscribed) while the citizen has it;
- *lost*: messages without a final outcome at the end;
- *delivered twice*: BerichtIDs the simulator put in a box more than once (``Verwerkt``
  twice), or citizens with two different BerichtIDs of one row.

Baseline beside it, from the same run: the messages BBX corrected from failed to delivered
(``outcome_corrections``) are exactly those the rule before issue 10 ("already final:
ignored") would have left failed, each a wrong outcome and a second, paper letter.

Run: ``.venv/bin/python bench/bench_soak.py`` (``--messages 20000`` for a quicker run,
``--submissions``, ``--subscribed``, ``--kills``, ``--timeout``, ``--keep``;
``--result-dialect live`` for results as a live ebms-core adapter writes them, VerwerkingsCode
``00``, which BBX counts as delivered only where the batch counters account for it).
Databases ``bbx_outcomes_soak`` and ``bbx_outcomes_soak_af`` are made anew and dropped at
the end (unless ``--keep``); at the end no process of the run is left (checked and printed).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from _common import compare_with_boxes as compare
from bench_delivery_e2e import CONNECTION, MESSAGE_TYPE, _with_db, prepare_databases

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAULTS = {
    "technisch_probleem_rate": 0.10,
    "http_503_rate": 0.05,
    "drop_rate": 0.03,
    "drop_after_processing_rate": 0.03,
    "duplicate_result_rate": 0.10,
    "result_extra_delay": 3.0,
    "seed": 10,
}
DELIVERED_CODES = {"Verwerkt", "BerichtBestaatAl"}


def hand_in(bbx_url: str, numbers: list[str], submissions_count: int) -> list[int]:
    """``submissions_count`` accepted submissions, more where one would exceed the
    connection's ``approval_threshold`` (it would wait for a second person in bbx_review,
    which is not what the soak is about)."""
    from bbx.store import administration, db, handins, submissions

    ids = []
    with db.transaction(bbx_url) as conn:
        connection = administration.connection_by_code(conn, CONNECTION)
        threshold = connection["approval_threshold"]
        if threshold:
            submissions_count = max(submissions_count, -(-len(numbers) // threshold))
        size = -(-len(numbers) // submissions_count)
        found = handins.message_type(conn, connection["id"], MESSAGE_TYPE)  # with its standard-text version
        type_id = found["id"]
        for part in range(submissions_count):
            chunk = numbers[part * size:(part + 1) * size]
            if not chunk:
                continue
            sub = submissions.open_submission(conn, connection_id=connection["id"], channel="sftp",
                                              external_ref=f"soak-{part}-{time.time_ns()}", submitted_by="soak",
                                              message_type_id=type_id)
            submissions.add_rows(conn, sub.id, connection_code=CONNECTION, connection_id=connection["id"],
                                 message_type_id=type_id,
                                 standard_text_version_id=found["standard_text_version_id"],
                                 rows=(submissions.NewRow(i, b) for i, b in enumerate(chunk, 1)))
            submissions.accept(conn, sub.id, rows_handed_in=len(chunk), actor="soak")
            ids.append(sub.id)
    return ids


# Airflow tuned for the soak (beside bbx.stack's defaults): more send tasks to kill, results
# polled often, and a killed component's work noticed within a minute, not the default 5.
SOAK_ENV = {
    "BBX_RESULT_POLL_SECONDS": "5",
    "BBX_BATCHES_PER_SLICE": "2",  # more send tasks to kill
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
    # tasks of a killed scheduler are adopted by the new one (default: every 300 s)
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "20",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
}


def start_platform(work: Path, bbx_url: str, af_url: str, subscribed: list[str], result_dialect: str):
    """The platform as ``make demo`` starts it (``bbx.stack``), as in bench_delivery_e2e.py
    (no population, no result delay, LocalExecutor parallelism 8, pool 4 slots, DAGs paused
    at creation), plus ``SOAK_ENV``; the subscribed citizens in the simulator's register;
    results written in ``result_dialect``."""
    from bbx import stack
    from simulator.config import senders_from_tenants

    s = stack.StackSettings.default(
        bbx_url=bbx_url, airflow_url=af_url, state_dir=work / "stack", airflow_home=work / "airflow_home",
        api_port=stack.free_port(), population_size=0, result_delay=0.0, register_delay=0.0,
        parallelism=8, pool_slots=4, paused_at_creation=True, result_dialect=result_dialect,
        extra_env={"BBX_KEY_FILE": str(work / "content.key"), **SOAK_ENV})
    running = stack.start(s, say=lambda line: print(f"  {line}", flush=True))
    admin = running.admin()
    admin.http.timeout = 300
    oin = next(x["oin"] for x in senders_from_tenants(s.tenants_file) if x["cpa_id"].startswith("cpa-gemeente-voorbeeld"))
    for start in range(0, len(subscribed), 20_000):
        admin.subscribe(oin, subscribed[start:start + 20_000], date(2020, 1, 1))
    return running, admin


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_service(state_dir: Path, name: str, timeout: float = 30.0) -> int:
    """kill -9 of every process of the service's session (as when its container dies);
    returns the session id. Killing the main process alone would leave forked children (the
    scheduler's LocalExecutor workers) holding its database connection, and with it a
    transaction that locks the DAG run: not a crash anyone sees in production."""
    from bbx import stack

    sid = stack.read_pids(state_dir)[name]
    deadline = time.monotonic() + timeout
    while (members := stack._session_members(sid)) and time.monotonic() < deadline:
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    return sid


def restart_component(running, name: str) -> int:
    """Start the Airflow component again, as ``bbx.stack.start`` does (new session, pid file)."""
    from bbx import stack

    return stack.spawn(running.state_dir, name, [sys.executable, "-m", "airflow", name], env=running.env,
                       cwd=Path(running.airflow_home))


def left_running(work: Path) -> list[str]:
    """Every process still running that belongs to this run: its environment or command
    line names the work folder (Airflow components, LocalExecutor workers, task processes,
    the simulator, the SFTP server)."""
    mine = str(work)
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        cmdline = _cmdline(int(entry.name))
        if state != "Z" and (mine in environ or mine in cmdline):
            left.append(f"{entry.name} {cmdline[:80]}")
    return left


class Killer(threading.Thread):
    """kill -9, in turn: a running send task, the scheduler, the triggerer; restarts the
    components (not the task: Airflow retries it)."""

    def __init__(self, running, af_url: str, rounds: int, interval: float):
        super().__init__(daemon=True)
        self.running, self.af_url = running, af_url
        self.rounds, self.interval = rounds, interval
        self.stop = threading.Event()
        self.killed: list[str] = []
        self.killed_tasks: set[str] = set()

    def _kill_send_task(self) -> bool:
        import psycopg

        from bbx import stack

        with psycopg.connect(self.af_url) as conn:
            running = [str(r[0]) for r in conn.execute(
                "SELECT id FROM task_instance WHERE dag_id = 'bbx_deliver' AND task_id = 'send' "
                "AND state = 'running'")]
        # task processes are forked by the LocalExecutor workers, in the scheduler's session;
        # the Task SDK names them "airflow worker -- <task instance id>"
        scheduler = stack._session_members(stack.read_pids(self.running.state_dir)["scheduler"])
        for ti in running:
            if ti in self.killed_tasks:
                continue  # each send task at most once: its retries are for the faults too
            for pid in scheduler:
                if ti in _cmdline(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    self.killed_tasks.add(ti)
                    self.killed.append(f"send task {ti[:8]} (pid {pid})")
                    return True
        return False

    def _kill_component(self, name: str) -> None:
        sid = kill_service(self.running.state_dir, name)
        self.killed.append(f"{name} (pid {sid})")
        time.sleep(2)
        restart_component(self.running, name)

    def run(self) -> None:
        for _ in range(self.rounds):
            for victim in ("send", "scheduler", "triggerer"):
                if self.stop.wait(self.interval):
                    return
                try:
                    if victim == "send":
                        deadline = time.monotonic() + self.interval
                        while not self._kill_send_task() and time.monotonic() < deadline:
                            if self.stop.wait(0.5):
                                return
                    else:
                        self._kill_component(victim)
                except Exception as exc:  # noqa: BLE001 - the soak goes on; reported
                    self.killed.append(f"{victim}: kill failed ({exc})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--submissions", type=int, default=5)
    parser.add_argument("--subscribed", type=float, default=0.95)
    parser.add_argument("--kills", type=int, default=2, help="rounds of (send task, scheduler, triggerer) kills")
    parser.add_argument("--kill-interval", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=5400)
    parser.add_argument("--result-dialect", choices=("documented", "live"), default="documented",
                        help="how the simulator writes results (bbx.stack's demo default is live)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    from bbx import settings

    base = settings.database_url()
    bbx_url, af_url = _with_db(base, "bbx_outcomes_soak"), _with_db(base, "bbx_outcomes_soak_af")
    work = Path(tempfile.mkdtemp(prefix="bbx-soak-"))
    os.environ["BBX_KEY_FILE"] = str(work / "content.key")
    from bbx import crypto
    from bbx.delivery import config

    crypto.create_key_file()
    print(f"work folder {work}", flush=True)
    numbers, subscribed = prepare_databases(bbx_url, af_url, args.messages, args.subscribed)
    print(f"databases ready: {len(numbers):,} citizens, {len(subscribed):,} subscribed", flush=True)

    running = None
    killer = None
    submission_ids: list[int] = []
    try:
        running, admin = start_platform(work, bbx_url, af_url, subscribed, args.result_dialect)
        api = running.api()
        api.wait_for_dags(["bbx_deliver", "bbx_collect_results"])
        admin.set_faults(**FAULTS)
        print(f"Airflow up; faults {FAULTS}", flush=True)

        started = time.monotonic()
        submission_ids = hand_in(bbx_url, numbers, args.submissions)
        api.trigger("bbx_deliver")
        killer = Killer(running, af_url, args.kills, args.kill_interval)
        killer.start()
        from bbx.store import db

        done_at = None
        last_collect = 0.0
        with db.connect(bbx_url) as conn:
            while time.monotonic() - started < args.timeout:
                state = conn.execute(
                    """SELECT count(*) FILTER (WHERE status = 'closed' AND results_written_at IS NOT NULL) AS done,
                              count(*) AS n FROM submissions WHERE id = ANY(%s)""",
                    (submission_ids,),
                ).fetchone()
                conn.commit()
                stats = admin.stats()
                if state["done"] == state["n"] and not killer.is_alive():
                    if stats["inbound_unprocessed"] == 0:
                        time.sleep(FAULTS["result_extra_delay"] + 5)  # results still in flight?
                        if admin.stats()["inbound_unprocessed"] == 0:
                            done_at = time.monotonic() - started
                            break
                    if time.monotonic() - last_collect > 60:
                        # late results after every submission closed: what bbx_collect_results
                        # does every 10 minutes, asked for now
                        try:
                            api.trigger("bbx_collect_results")
                        except Exception as exc:  # noqa: BLE001 - asked again in a minute
                            print(f"  triggering bbx_collect_results failed: {exc}", flush=True)
                        last_collect = time.monotonic()
                time.sleep(2)
        elapsed = time.monotonic() - started
        faults = admin.faults()
        result = compare(bbx_url, admin, submission_ids)
    finally:
        if killer is not None:
            killer.stop.set()
            killer.join(60)
        if running is not None:
            from bbx import stack

            stack.stop(running.state_dir, quiet=True)  # every process of every session
        leftovers = left_running(work)
        for line in leftovers:  # not expected: stack.stop kills what is left after 30 s
            pid = int(line.split()[0])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not args.keep:
            import shutil

            from bbx.store import db as store_db

            for url in (bbx_url, af_url):
                store_db.drop_database(url)
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"soak: {args.messages:,} messages in {len(submission_ids)} submissions, {args.subscribed:.0%} subscribed, "
          f"max {config.MAX_SEND_ATTEMPTS} attempts, results in the {args.result_dialect} dialect")
    print(f"  faults asked: {FAULTS}")
    print(f"  faults injected by the simulator: {faults['injected']}")
    print(f"  kills: {', '.join(killer.killed) or 'none'}")
    print(f"  {'all submissions closed, result files written' if done_at else 'NOT FINISHED'} after "
          f"{elapsed:,.0f} s")
    print(f"  BBX outcomes: {result['counts']}")
    print(f"  BerichtIDs the simulator received more than once: {result['received_more_than_once']:,}")
    print(f"  corrections failed → delivered: {result['corrections']} in {result['corrected_submissions']} "
          f"submission(s) (result file up to v{result['max_version']})")
    print(f"  baseline, the rule before issue 10 (a failure already final ignores later delivery evidence): "
          f"{result['corrections']} of these messages would have stayed failed — wrong outcomes")
    print(f"  wrong outcomes: {result['wrong']}")
    print(f"  lost: {result['lost']}")
    print(f"  delivered twice: {result['twice']}")
    for example in result["examples"]:
        print(f"    e.g. {example}")
    print(f"  processes of this run left after stop: {len(leftovers)}"
          + (f" ({'; '.join(leftovers[:5])})" if leftovers else ""))
    if args.keep:
        print(f"  kept: {work}, databases {bbx_url.split('?')[0]} and {af_url.split('?')[0]}")
    else:
        print("  databases dropped, work folder removed")
    ok = (done_at is not None and result["wrong"] == 0 and result["lost"] == 0 and result["twice"] == 0
          and not leftovers)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
