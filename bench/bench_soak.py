"""Soak under faults (issue 10, "Done when"): every message ends in exactly one TRUE outcome.

100,000 messages by default (``--messages``), in several submissions, delivered by a real
Airflow (scheduler with the LocalExecutor, dag-processor, triggerer, api-server) through
the simulator with this fault mix:

- ``TechnischProbleem`` for 10 % of the messages (resent with the same BerichtID);
- HTTP 503 for 5 % and dropped connections for 3 % of the service requests;
- the answer lost *after* processing for 3 % (BBX cannot know the batch arrived and sends
  the same BatchID again: the simulator processes it twice);
- 10 % of the results delivered twice; every result 3 s late;

plus ``kill -9`` during the run of running ``send`` tasks, of the scheduler and of the
triggerer (each with the processes it started; restarted, as a supervisor would). Then it waits until every submission is
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
``--submissions``, ``--subscribed``, ``--kills``, ``--timeout``, ``--keep``).
Databases ``bbx_outcomes_soak`` and ``bbx_outcomes_soak_af`` are made anew.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import compare_with_boxes as compare
from bench_delivery_e2e import (
    CONNECTION,
    MESSAGE_TYPE,
    _free_port,
    _with_db,
    airflow,
    airflow_environment,
    prepare_databases,
    start_sftp,
    start_simulator,
    wait_for_dag,
)

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
    from bbx.store import administration, db, submissions

    ids = []
    size = -(-len(numbers) // submissions_count)
    with db.transaction(bbx_url) as conn:
        connection = administration.connection_by_code(conn, CONNECTION)
        type_id = conn.execute("SELECT id FROM message_types WHERE connection_id = %s AND code = %s",
                               (connection["id"], MESSAGE_TYPE)).fetchone()["id"]
        for part in range(submissions_count):
            chunk = numbers[part * size:(part + 1) * size]
            if not chunk:
                continue
            sub = submissions.open_submission(conn, connection_id=connection["id"], channel="sftp",
                                              external_ref=f"soak-{part}-{time.time_ns()}", submitted_by="soak",
                                              message_type_id=type_id)
            submissions.add_rows(conn, sub.id, connection_code=CONNECTION, connection_id=connection["id"],
                                 message_type_id=type_id,
                                 rows=(submissions.NewRow(i, b) for i, b in enumerate(chunk, 1)))
            submissions.accept(conn, sub.id, rows_handed_in=len(chunk), actor="soak")
            ids.append(sub.id)
    return ids


class Killer(threading.Thread):
    """kill -9, in turn: a running send task, the scheduler, the triggerer; restarts the
    components (not the task: Airflow retries it)."""

    def __init__(self, processes: dict, start_component, af_url: str, rounds: int, interval: float):
        super().__init__(daemon=True)
        self.processes, self.start_component, self.af_url = processes, start_component, af_url
        self.rounds, self.interval = rounds, interval
        self.stop = threading.Event()
        self.killed: list[str] = []
        self.orphans: set[int] = set()
        self.killed_tasks: set[str] = set()

    def _kill_send_task(self) -> bool:
        import psutil
        import psycopg

        with psycopg.connect(self.af_url) as conn:
            running = [str(r[0]) for r in conn.execute(
                "SELECT id FROM task_instance WHERE dag_id = 'bbx_deliver' AND task_id = 'send' "
                "AND state = 'running'")]
        for ti in running:
            if ti in self.killed_tasks:
                continue  # each send task at most once: its retries are for the faults too
            for p in psutil.process_iter(["pid", "cmdline"]):
                if ti in " ".join(p.info["cmdline"] or ()):
                    os.kill(p.info["pid"], signal.SIGKILL)
                    self.killed_tasks.add(ti)
                    self.killed.append(f"send task {ti[:8]} (pid {p.info['pid']})")
                    return True
        return False

    def _kill_component(self, name: str) -> None:
        """kill -9 of the component with everything it started (its LocalExecutor workers
        and their tasks, the triggerer's runner), as when its container dies. Killing the
        main process alone leaves forked children holding its database connection, and
        with it a transaction that locks the DAG run (not a crash anyone sees in production)."""
        import psutil

        process = self.processes[name]
        try:
            tree = [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
        except psutil.Error:
            tree = []
        os.killpg(process.pid, signal.SIGKILL)
        for pid in tree:  # children in a session of their own
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()
        self.killed.append(f"{name} (pid {process.pid})")
        time.sleep(2)
        self.processes[name] = self.start_component(name)

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

    processes: dict[str, subprocess.Popen] = {}
    killer = None
    orphans: set[int] = set()
    try:
        processes["simulator"], sim, admin = start_simulator(work, subscribed)
        processes["sftp"], sftp_conn = start_sftp(work)
        api_port = _free_port()
        env = airflow_environment(work, bbx_url, af_url, sim, sftp_conn, api_port)
        env.update({
            "BBX_RESULT_POLL_SECONDS": "5",
            "BBX_BATCHES_PER_SLICE": "2",  # more send tasks to kill
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
            # tasks of a killed scheduler are adopted by the new one (default: every 300 s)
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "20",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
        })
        airflow(env, "db", "migrate")
        airflow(env, "pools", "set", "berichtenbox", "4", "concurrent sends to the ebMS adapter")
        logs = work / "logs"
        logs.mkdir()

        def start_component(component: str) -> subprocess.Popen:
            extra = ["--port", str(api_port)] if component == "api-server" else []
            return subprocess.Popen(
                [sys.executable, "-m", "airflow", component, *extra], env=env, cwd=work,
                stdout=open(logs / f"{component}.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True,
            )

        for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
            processes[component] = start_component(component)
        wait_for_dag(env, af_url, "bbx_deliver")
        wait_for_dag(env, af_url, "bbx_collect_results")
        admin.set_faults(**FAULTS)
        print(f"Airflow up; faults {FAULTS}", flush=True)

        started = time.monotonic()
        submission_ids = hand_in(bbx_url, numbers, args.submissions)
        airflow(env, "dags", "trigger", "bbx_deliver")
        killer = Killer(processes, start_component, af_url, args.kills, args.kill_interval)
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
                        airflow(env, "dags", "trigger", "bbx_collect_results", check=False)
                        last_collect = time.monotonic()
                time.sleep(2)
        elapsed = time.monotonic() - started
        faults = admin.faults()
        result = compare(bbx_url, admin, submission_ids)
        orphans = killer.orphans
    finally:
        if killer is not None:
            killer.stop.set()
            killer.join(5)
            orphans = killer.orphans
        for name, process in reversed(list(processes.items())):
            try:
                os.killpg(process.pid, signal.SIGTERM) if name not in ("simulator", "sftp") else process.terminate()
            except (ProcessLookupError, PermissionError):
                pass
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for pid in orphans:  # LocalExecutor workers of a killed scheduler
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
          f"max {config.MAX_SEND_ATTEMPTS} attempts")
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
    if args.keep:
        print(f"  kept: {work}")
    ok = done_at is not None and result["wrong"] == 0 and result["lost"] == 0 and result["twice"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
