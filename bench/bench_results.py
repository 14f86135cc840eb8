"""Results and the result file: record the results of N subscribed messages (result
messages of 1,000, in the simulator's own format) and write the result file of the whole
submission over SFTP, beside a plain baseline measured in the same run.

Issue 17: at 1,000,000 rows (400,000 subscribed), ``await_results`` took 79 s end to end.
This script

1. makes a fresh BBX database (``<prefix>bbx_bench_results``) with the sample
   configuration, ``--rows`` citizens of which ``--subscribed`` in the register, hands in
   one submission of all rows and plans it (the rest become ``not_subscribed``), marks
   every batch sent (untimed), and builds each batch's ``GLOBE-R-BV-Result`` with the
   simulator's ``simulator.globe.build_result`` (all ``Verwerkt``, gzipped as the adapter
   hands them out);
2. starts the SFTP server (``python -m simulator.sftp_server``, its own process, port
   ``--sftp-port``) that the result file goes to;
3. **BBX, timed, two parts**: *record*: ``bbx.delivery.results.collect_connection`` over
   the result messages (an in-memory inbox in place of the ebMS adapter: its HTTP round
   trips are not measured here) and ``close_reconciled``; *file*: ``write_reports`` with
   the real SFTP writer (result file + undeliverable list);
4. **baseline, timed, same run**, over a copy of the messages (``message_id, row_number,
   bsn, outcome, final_at``, primary key only): per result, lxml ``iterparse`` and one
   ``UPDATE … FROM unnest``, committed; then ``COPY (SELECT …) TO STDOUT`` of both files
   streamed into a pipelined paramiko SFTP write;
5. prints both, the ratios, and checks the outcomes and the files' row counts.

Run: ``.venv/bin/python bench/bench_results.py`` (``--rows 1000000 --subscribed 0.4``;
``--keep`` keeps the database; ``--reuse`` runs again on a kept one, its results undone;
``--profile FILE`` writes a cProfile of BBX's two parts).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    bench_database_url,
    emit_row,
    fresh_database,
    lift_four_eyes,
    seed_register,
    standard_text_only,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONNECTION, MESSAGE_TYPE = "voorbeeld", "PASPRT"
ACTION = "GLOBE-R-BV-Result"


class Inbox:
    """The adapter's side of ``collect_connection``: the waiting result messages, in memory."""

    def __init__(self, payloads: list[bytes]):
        from bbx.hooks.berichtenbox import DataSource, InboundMessage

        self.messages = {
            f"bench-result-{n}@adapter": InboundMessage(f"bench-result-{n}@adapter", ACTION, None, None, None, None,
                                                        (DataSource("result.xml", "application/xml", p),))
            for n, p in enumerate(payloads)}
        self.processed: set[str] = set()

    def unprocessed_message_ids(self, *, action: str, max_nr: int) -> list[str]:
        return [m for m in self.messages if m not in self.processed][:max_nr]

    def get_message(self, message_id: str):
        return self.messages[message_id]

    def mark_processed(self, message_id: str) -> None:
        self.processed.add(message_id)


def prepare(url: str, rows: int, share: float) -> int:
    from bbx.delivery.plan import plan_run
    from bbx.domain import bsn as bsn_rules
    from bbx.store import administration, db, handins, submissions

    fresh_database(url)
    lift_four_eyes(url, CONNECTION)
    standard_text_only(url, CONNECTION, MESSAGE_TYPE)
    numbers = list(bsn_rules.generate(rows, seed=5))
    seed_register(url, CONNECTION, numbers[: int(rows * share)])
    with db.transaction(url) as conn:
        connection = administration.connection_by_code(conn, CONNECTION)
        found = handins.message_type(conn, connection["id"], MESSAGE_TYPE)
        sub = submissions.open_submission(conn, connection_id=connection["id"], channel="sftp",
                                          external_ref=f"bench-results-{time.time_ns()}", submitted_by="bench",
                                          message_type_id=found["id"])
        submissions.add_rows(conn, sub.id, connection_code=CONNECTION, connection_id=connection["id"],
                             message_type_id=found["id"], standard_text_version_id=found["standard_text_version_id"],
                             rows=(submissions.NewRow(i, b) for i, b in enumerate(numbers, 1)))
        submissions.accept(conn, sub.id, rows_handed_in=rows, actor="bench")
        conn.execute("""INSERT INTO sftp_drops (connection_id, name, submission_id, decision, state, finished_at)
                        VALUES (%s, %s, %s, 'validate', 'done', now())""",
                     (connection["id"], f"bench-{rows}", sub.id))
    plan_run(f"bench-results-{time.time_ns()}", max_map_length=1024, url=url)
    mark_sent(url, sub.id)
    return sub.id


def mark_sent(url: str, submission_id: int) -> None:
    """What the send tasks leave behind (set-up, plain SQL)."""
    from bbx.store import db

    with db.transaction(url) as conn:
        conn.execute("UPDATE batches SET status = 'sent', sent_at = now() WHERE submission_id = %s", (submission_id,))
        conn.execute("""UPDATE messages SET outcome = 'sent', sent_at = now(), send_attempts = 1
                        WHERE submission_id = %s AND outcome = 'queued'""", (submission_id,))


def undo(url: str, submission_id: int) -> None:
    """A kept database back to 'every batch sent, no result yet' (``--reuse``)."""
    from bbx.store import db

    with db.transaction(url) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")  # delivered -> sent is no move BBX makes
        conn.execute("DELETE FROM delivery_results")
        conn.execute("""UPDATE messages SET outcome = 'sent', outcome_code = NULL, outcome_reason = NULL,
                               final_at = NULL WHERE submission_id = %s AND outcome = 'delivered'""",
                     (submission_id,))
        conn.execute("UPDATE batches SET status = 'sent', result_at = NULL WHERE submission_id = %s",
                     (submission_id,))
        conn.execute("""UPDATE submissions SET status = 'delivering', closed_at = NULL, results_written_at = NULL,
                               results_version = 0 WHERE id = %s""", (submission_id,))
        conn.execute("DROP TABLE IF EXISTS bench_results_baseline")


def result_payloads(url: str, submission_id: int) -> list[bytes]:
    from bbx.store import db
    from simulator.globe import Batch, Bericht, build_result

    now = datetime.now(UTC)
    payloads = []
    with db.connect(url) as conn:
        batches = conn.execute("SELECT id::text AS id FROM batches WHERE submission_id = %s ORDER BY batch_number",
                               (submission_id,)).fetchall()
        for b in batches:
            ids = [r["m"] for r in conn.execute(
                "SELECT message_id::text AS m FROM messages WHERE batch_id = %s ORDER BY row_number", (b["id"],))]
            batch = Batch(b["id"], now.isoformat(), "bench", [Bericht(i, MESSAGE_TYPE) for i in ids])
            payloads.append(gzip.compress(build_result(batch, ["Verwerkt"] * len(ids), leverancier_code="bench",
                                                       received=now, processed=now), 1))
    return payloads


def start_sftp(work: Path, port: int):
    connection_file = work / "sftp-connection.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator.sftp_server", "--root", str(work / "sftp"), "--port", str(port),
         "--user", "bbx:bench-secret", "--connection-file", str(connection_file)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(work / "sftp.log", "w"))
    deadline = time.monotonic() + 30
    while not (connection_file.exists() and connection_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the SFTP server did not start; see {work / 'sftp.log'}")
        time.sleep(0.1)
    return process, json.loads(connection_file.read_text())


# ----------------------------------------------------------------------------- BBX


def bbx_record(url: str, payloads: list[bytes], submission_id: int):
    from bbx.delivery import results
    from bbx.store import administration, db

    summary = results.CollectSummary()
    with db.connect(url) as conn:
        c = administration.connection_by_code(conn, CONNECTION)
        conn.commit()
        connection = {"id": c["id"], "code": c["code"], "oin": c["oin"], "cpa_id": c["cpa_id"], "sandbox": False}
        results.collect_connection(conn, Inbox(payloads), connection, summary)
        results.close_reconciled(conn, summary, submission_ids=[submission_id])
    return summary


def bbx_file(url: str, submission_id: int):
    from bbx.delivery import results
    from bbx.delivery.outbox import write_to_outbox
    from bbx.store import db

    summary = results.CollectSummary()
    with db.connect(url) as conn:
        results.write_reports(conn, write_to_outbox, summary, submission_ids=[submission_id])
    return summary


# ----------------------------------------------------------------------------- baseline

NS_RESULT = "http://schemas.rdw.nl/GEB/BerichtVerwerkService/BerichtResultaat/Types/2009/01"


def baseline_copy(url: str, submission_id: int) -> None:
    from bbx.store import db

    with db.transaction(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_results_baseline")
        conn.execute("""CREATE TABLE bench_results_baseline AS
                        SELECT message_id, row_number, bsn, CASE outcome WHEN 'sent' THEN 'sent' ELSE outcome END
                               AS outcome, outcome_code, outcome_reason, final_at
                        FROM messages WHERE submission_id = %s""", (submission_id,))
        conn.execute("ALTER TABLE bench_results_baseline ADD PRIMARY KEY (message_id)")
        conn.execute("ANALYZE bench_results_baseline")


def baseline_record(url: str, payloads: list[bytes]) -> int:
    import psycopg
    from lxml import etree

    bericht, berichtid, code_tag = f"{{{NS_RESULT}}}Bericht", "BerichtID", "VerwerkingsCode"
    updated = 0
    with psycopg.connect(url) as conn:
        conn.execute("SET search_path TO bbx")
        for payload in payloads:
            ids, codes = [], []
            for _, element in etree.iterparse(io.BytesIO(gzip.decompress(payload)), tag=bericht):
                ids.append(element.findtext(berichtid))
                codes.append(element.findtext(code_tag))
                element.clear()
            updated += conn.execute(
                """UPDATE bench_results_baseline b SET outcome = 'delivered', outcome_code = v.code,
                          final_at = now() FROM unnest(%s::uuid[], %s::text[]) AS v(id, code)
                   WHERE b.message_id = v.id AND b.outcome = 'sent'""", (ids, codes)).rowcount
            conn.commit()
    return updated


def baseline_file(url: str, sftp: dict, folder: str) -> int:
    import paramiko
    import psycopg

    transport = paramiko.Transport((sftp["host"], sftp["port"]))
    transport.connect(username=sftp["login"], password=sftp["password"])
    client = paramiko.SFTPClient.from_transport(transport)
    written = 0
    queries = [("baseline.results.csv", "SELECT row_number, bsn, outcome, outcome, outcome_code, outcome_reason, "
                "message_id, to_char(final_at AT TIME ZONE 'Europe/Amsterdam', 'YYYY-MM-DD HH24:MI:SS'), 1 "
                "FROM bench_results_baseline ORDER BY row_number"),
               ("baseline.undeliverable.csv", "SELECT bsn, row_number, outcome, outcome_code, outcome_reason "
                "FROM bench_results_baseline WHERE outcome IN ('not_subscribed', 'failed') ORDER BY row_number")]
    try:
        with psycopg.connect(url) as conn:
            conn.execute("SET search_path TO bbx")
            for name, query in queries:
                with client.open(f"{folder}/{name}", "wb") as remote:
                    remote.set_pipelined(True)
                    block = bytearray()
                    with conn.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER, DELIMITER ';')") as copy:
                        for chunk in copy:
                            block += chunk
                            if len(block) >= 1 << 20:
                                remote.write(bytes(block))
                                written += len(block)
                                block.clear()
                    remote.write(bytes(block))
                    written += len(block)
    finally:
        client.close()
        transport.close()
    return written


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--subscribed", type=float, default=0.4)
    parser.add_argument("--sftp-port", type=int, default=0, help="the SFTP server's port (0: any free one)")
    parser.add_argument("--keep", action="store_true", help="keep the database (for --reuse)")
    parser.add_argument("--reuse", action="store_true", help="use the kept database, its results undone")
    parser.add_argument("--file-only", action="store_true",
                        help="with --reuse: the result file again, over the kept results (no recording)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile of BBX's record and file parts (FILE.record, "
                                                          "FILE.file)")
    parser.add_argument("--json", action="store_true", help="print a BENCHROW line for bench/run_all.py")
    args = parser.parse_args(argv)

    from bbx import crypto
    from bbx.store import db

    work = Path(tempfile.mkdtemp(prefix="bbx-bench-results-"))
    os.environ["BBX_KEY_FILE"] = str(Path(tempfile.gettempdir()) / "bbx-bench-results.key")
    if not Path(os.environ["BBX_KEY_FILE"]).exists():
        crypto.create_key_file()
    url = bench_database_url("bbx_bench_results")
    os.environ["BBX_DATABASE_URL"] = url
    from bbx import settings

    settings.database_url.cache_clear()
    t = time.perf_counter()
    if args.reuse:
        with db.connect(url) as conn:
            submission_id = conn.execute("SELECT max(id) AS id FROM submissions").fetchone()["id"]
            if args.file_only:
                conn.execute("UPDATE submissions SET results_written_at = NULL, results_version = 0 WHERE id = %s",
                             (submission_id,))
                conn.commit()
        if not args.file_only:
            undo(url, submission_id)
    else:
        submission_id = prepare(url, args.rows, args.subscribed)
    payloads = [] if args.file_only else result_payloads(url, submission_id)
    if not args.file_only:
        baseline_copy(url, submission_id)
    print(f"prepared {args.rows:,} rows, {len(payloads)} result messages in {time.perf_counter() - t:.1f} s "
          f"(untimed)", flush=True)

    sftp_process = None
    try:
        sftp_process, sftp = start_sftp(work, args.sftp_port)
        os.environ["AIRFLOW_CONN_BBX_SFTP"] = json.dumps(sftp)
        (work / "sftp" / "baseline").mkdir(parents=True)

        t = time.perf_counter()
        base_updated = baseline_record(url, payloads) if payloads else int(args.rows * args.subscribed)
        base_record_s = time.perf_counter() - t
        t = time.perf_counter()
        base_bytes = baseline_file(url, sftp, "/baseline")
        base_file_s = time.perf_counter() - t
        print(f"baseline: record {base_record_s:.1f} s, file {base_file_s:.1f} s", flush=True)

        import cProfile

        # loaded before the clock starts, as in a task process (Airflow, the SFTP hook)
        import bbx.delivery.outbox  # noqa: F401
        import bbx.delivery.results  # noqa: F401
        import bbx.hooks.tenant_sftp  # noqa: F401

        profiles = {}
        t = time.perf_counter()
        profiles["record"] = cProfile.Profile() if args.profile else None
        if profiles["record"]:
            profiles["record"].enable()
        recorded = bbx_record(url, payloads, submission_id) if payloads else None
        if profiles["record"]:
            profiles["record"].disable()
        record_s = time.perf_counter() - t
        t = time.perf_counter()
        profiles["file"] = cProfile.Profile() if args.profile else None
        if profiles["file"]:
            profiles["file"].enable()
        reported = bbx_file(url, submission_id)
        if profiles["file"]:
            profiles["file"].disable()
        file_s = time.perf_counter() - t
        for part, profile in profiles.items():
            if profile:
                profile.dump_stats(f"{args.profile}.{part}")

        with db.connect(url) as conn:
            counts = {r["outcome"]: r["n"] for r in conn.execute(
                "SELECT outcome, count(*) AS n FROM messages WHERE submission_id = %s GROUP BY outcome",
                (submission_id,))}
            status = conn.execute("SELECT status, results_written_at FROM submissions WHERE id = %s",
                                  (submission_id,)).fetchone()
        files = sorted((work / "sftp").rglob("outbox/*.csv"))
        lines = {f.name: f.read_bytes().count(b"\r\n") for f in files}
        file_bytes = sum(f.stat().st_size for f in files)
    finally:
        if sftp_process is not None:
            sftp_process.terminate()
            sftp_process.wait(30)
        if not args.keep:
            db.drop_database(url)
        import shutil

        shutil.rmtree(work, ignore_errors=True)

    subscribed = int(args.rows * args.subscribed)
    ok = (counts.get("delivered") == subscribed == base_updated and (recorded is None
                                                                     or recorded.results == len(payloads))
          and status["status"] == "closed" and status["results_written_at"] is not None
          and reported.reported == [submission_id]
          and sorted(lines.values()) == sorted([args.rows + 1, args.rows - subscribed + 1]))
    bbx_s, base_s = record_s + file_s, base_record_s + base_file_s
    load = os.getloadavg()
    print()
    print(f"results of {subscribed:,} messages ({len(payloads)} result messages) + result file of {args.rows:,} rows "
          f"(load {load[0]:.1f})")
    print(f"  BBX       record {record_s:6.1f} s + file {file_s:6.1f} s = {bbx_s:6.1f} s   "
          f"({file_bytes / 1e6:,.0f} MB of CSV)")
    print(f"  baseline  record {base_record_s:6.1f} s + file {base_file_s:6.1f} s = {base_s:6.1f} s   "
          f"({base_bytes / 1e6:,.0f} MB; iterparse + UPDATE … FROM unnest, COPY → pipelined SFTP)")
    if recorded is None:  # --file-only
        record_s = base_record_s = 1e-9
    print(f"  ratio     record {base_record_s / record_s:.0%}, file {base_file_s / file_s:.0%}, "
          f"together {base_s / bbx_s:.0%} of the baseline's speed")
    print(f"  check: {'OK' if ok else 'MISMATCH'} (BBX: {counts}; lines per file {lines})")
    emit_row(args.json, stage=f"results + result file, {args.rows:,} rows", bbx=f"{bbx_s:.1f} s",
             baseline=f"{base_s:.1f} s", ratio=base_s / bbx_s, rss_mb=None, target="part of e2e <= 60 s",
             met=None, correct=ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
