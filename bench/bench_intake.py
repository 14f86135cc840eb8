"""SFTP intake: a 1,000,000-row BSN list → validated and planned in PostgreSQL.

Target (issue 4): <= 60 s and <= 1 GB peak RSS on the 2-core machine. This script

1. makes a fresh BBX database (``bbx_bench_intake_<pid>``, with ``BBX_BENCH_DB_PREFIX``, on
   the configured server: benches run side by side) with the sample configuration, and starts the SFTP server (``simulator.sftp_server``) in its
   own process on a free port;
2. as the tenant, uploads phase 1 (1,000 BSNs) and processes it, so that phase 2 meets
   BSNs already handed in (the set-based check then really runs);
3. as the tenant, uploads phase 2: a list of N rows (default 1,000,000; header, CR LF)
   holding those 1,000 earlier BSNs, 10 invalid BSNs and 10 duplicates (untimed: the
   tenant's upload);
4. processes phase 2 in a fresh child process exactly as the DAG's tasks do —
   ``find_drops``, ``receive_drop`` (claim, hash, log), ``validate_drop`` (download, scan,
   earlier-hand-in check, COPY every row, accept, error report to outbox/) and
   ``acknowledge_drop`` — and reports each step's wall time and the child's peak RSS
   (``resource.getrusage``);
5. checks the outcome (planned / rejected counts) and prints the figures;
6. runs the **baseline** on the same phase-2 file in a child process: a plain script (no
   BBX code) that reads the file, applies the 11-test and the duplicate check, derives a
   UUIDv5 per row and COPYs ``(id, bsn, row)`` into an indexed table (issue 17: BBX at
   >= 50 % of its rate, <= 15 s, <= 500 MB).

Run: ``.venv/bin/python bench/bench_intake.py`` (``--rows N``, ``--keep`` leaves the
database for inspection).
"""

from __future__ import annotations

import argparse
import atexit
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_database_url, emit_row, fresh_database, valid_bsns

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TENANT, CONNECTION = "gemeente-voorbeeld", "voorbeeld"
EARLIER, INVALID, DUPLICATES = 1_000, 10, 10




def _child() -> int:
    """Process the drops of the connection, step by step; print figures as JSON."""
    from bbx.intake import steps

    figures: dict = {}
    t = time.perf_counter()
    import airflow.providers.sftp.hooks.sftp  # noqa: F401  (a worker has it imported already)

    figures["import_airflow"] = time.perf_counter() - t
    start = time.perf_counter()
    found = steps.find_drops(CONNECTION)
    figures["find_drops"] = time.perf_counter() - start
    results = []
    for drop in found:
        t = time.perf_counter()
        received = steps.receive_drop(drop)
        figures["receive_drop"] = figures.get("receive_drop", 0) + time.perf_counter() - t
        t = time.perf_counter()
        if os.environ.get("BBX_BENCH_PROFILE"):
            import cProfile

            profile = cProfile.Profile()
            validated = profile.runcall(steps.validate_drop, received)
            profile.dump_stats(os.environ["BBX_BENCH_PROFILE"])
        else:
            validated = steps.validate_drop(received)
        figures["validate_drop"] = figures.get("validate_drop", 0) + time.perf_counter() - t
        t = time.perf_counter()
        results.append(steps.acknowledge_drop(validated))
        figures["acknowledge_drop"] = figures.get("acknowledge_drop", 0) + time.perf_counter() - t
    figures["total"] = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    figures["cpu_s"] = usage.ru_utime + usage.ru_stime  # BBX's own side (PostgreSQL's is not in it)
    figures["results"] = results
    print("BENCH " + json.dumps(figures, default=str), flush=True)
    return 0


def _baseline_child(url: str, list_file: str) -> int:
    """The plain baseline: read, 11-test, duplicates, UUIDv5, COPY into an indexed table."""
    import uuid

    import psycopg

    namespace = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
    start = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS baseline_rows")
        conn.execute("CREATE TABLE baseline_rows (id uuid PRIMARY KEY, bsn char(9) NOT NULL, row_number int NOT NULL)")
        conn.execute("CREATE INDEX ON baseline_rows (bsn)")
        seen: set[str] = set()
        accepted = 0
        with open(list_file, newline="") as handle, conn.cursor().copy(
                "COPY baseline_rows (id, bsn, row_number) FROM STDIN") as copy:
            next(handle)  # header
            for row, line in enumerate(handle, 1):
                bsn = line.strip()
                if len(bsn) != 9 or not bsn.isdigit() or bsn in seen:
                    continue
                if sum(int(d) * w for d, w in zip(bsn, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True)) % 11:
                    continue
                seen.add(bsn)
                copy.write_row((uuid.uuid5(namespace, f"bench/{row}/{bsn}"), bsn, row))
                accepted += 1
        conn.commit()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print("BENCH " + json.dumps({"total": time.perf_counter() - start, "accepted": accepted,
                                 "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}))
    return 0


def _run_child(env: dict, *extra: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *(extra or ("--child",))], env=env, capture_output=True,
                         text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-4000:] + out.stderr[-4000:])
        raise SystemExit("the intake child process failed")
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH "))
    return json.loads(line[6:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of validate_drop (phase 2) to FILE")
    parser.add_argument("--json", action="store_true", help="print a BENCHROW line for bench/run_all.py")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-child", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child()
    if args.baseline_child:
        return _baseline_child(*args.baseline_child)

    import paramiko

    from bbx import crypto
    from bbx.store import db

    work = Path(tempfile.mkdtemp(prefix="bbx-bench-intake-"))
    url = bench_database_url(f"bbx_bench_intake_{os.getpid()}")  # unique: two runs never share one
    env = {**os.environ, "BBX_DATABASE_URL": url, "BBX_KEY_FILE": str(work / "content.key"),
           "AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__UNIT_TEST_MODE": "True"}
    os.environ.update({k: env[k] for k in ("BBX_DATABASE_URL", "BBX_KEY_FILE")})
    from bbx import settings

    settings.database_url.cache_clear()
    crypto.create_key_file()
    print(f"bench database {url.rsplit('/', 1)[-1]}", flush=True)
    if not args.keep:  # also when a step fails: a unique name must not pile up databases
        atexit.register(db.drop_database, url)
    fresh_database(url)

    server = subprocess.Popen(
        [sys.executable, "-m", "simulator.sftp_server", "--root", str(work / "sftp"), "--port", "0",
         "--user", "bbx:bench", "--user", f"{TENANT}:tenant:/{TENANT}", "--connection-file", str(work / "conn.json")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (work / "conn.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        connection = json.loads((work / "conn.json").read_text())
        env["AIRFLOW_CONN_BBX_SFTP"] = json.dumps(connection)
        (work / "sftp" / TENANT / CONNECTION).mkdir(parents=True)
        for folder in ("inbox", "processing", "archive", "outbox"):
            (work / "sftp" / TENANT / CONNECTION / folder).mkdir()

        transport = paramiko.Transport(("127.0.0.1", connection["port"]))
        transport.connect(username=TENANT, password="tenant")
        tenant = paramiko.SFTPClient.from_transport(transport)

        def upload(name: str, list_path: Path) -> None:
            tenant.mkdir(f"/{CONNECTION}/inbox/{name}")
            tenant.put(str(list_path), f"/{CONNECTION}/inbox/{name}/bsns.csv")
            tenant.putfo(io.BytesIO(b"message_type: PASPRT\r\n"), f"/{CONNECTION}/inbox/{name}/READY")

        valid = args.rows - INVALID - DUPLICATES
        every = max(valid // INVALID, 1)
        all_bsns = valid_bsns(valid, 30_000_000)
        phase1 = work / "phase1.csv"
        phase2 = work / "phase2.csv"
        t = time.perf_counter()
        earlier = []
        with open(phase2, "w", newline="") as handle:
            handle.write("BSN\r\n")
            for index, value in enumerate(all_bsns):
                if index < EARLIER:
                    earlier.append(value)
                handle.write(value + "\r\n")
                if index % every == every // 2:
                    handle.write("123456789\r\n")  # fails the 11-test
            for value in earlier[:DUPLICATES]:
                handle.write(value + "\r\n")  # a duplicate within the drop
        phase1.write_text("\r\n".join(earlier) + "\r\n")
        size = phase2.stat().st_size
        print(f"phase 2 list: {args.rows:,} rows, {size / 1e6:.1f} MB written in {time.perf_counter() - t:.1f} s "
              f"(untimed)", flush=True)

        upload("fase1", phase1)
        first = _run_child(env)
        print(f"phase 1 ({EARLIER:,} BSNs) processed in {first['total']:.1f} s", flush=True)

        if args.profile:
            env["BBX_BENCH_PROFILE"] = args.profile
        t = time.perf_counter()
        upload("fase2", phase2)
        print(f"tenant upload of phase 2: {time.perf_counter() - t:.1f} s (untimed)", flush=True)
        figures = _run_child(env)
        transport.close()
        base = _run_child(env, "--baseline-child", url, str(phase2))
    finally:
        server.terminate()
        server.wait(10)

    [result] = figures["results"]
    with db.connect(url) as conn:
        counts = {r["outcome"]: r["n"] for r in conn.execute(
            "SELECT outcome, count(*) AS n FROM messages WHERE submission_id = %s GROUP BY outcome",
            (result["submission_id"],))}
    valid = args.rows - INVALID - DUPLICATES
    every = max(valid // INVALID, 1)
    expected_rejected = EARLIER + DUPLICATES + len(range(every // 2, valid, every))
    rows = result["rows"]
    print()
    print(f"rows handed in      {rows:>12,}")
    print(f"planned             {counts.get('planned', 0):>12,}")
    print(f"rejected            {counts.get('rejected', 0):>12,}   (earlier phase {EARLIER:,}, duplicates "
          f"{DUPLICATES}, 11-test {expected_rejected - EARLIER - DUPLICATES})")
    print(f"{'(import Airflow)':<20}{figures['import_airflow']:>10.1f} s   not counted: a worker has it loaded")
    for step in ("find_drops", "receive_drop", "validate_drop", "acknowledge_drop"):
        print(f"{step:<20}{figures[step]:>10.1f} s")
    total = figures["total"]
    print(f"{'total':<20}{total:>10.1f} s   {rows / total:,.0f} rows/s")
    print(f"{'peak RSS (child)':<20}{figures['peak_rss_mb']:>10.0f} MB")
    print(f"{'CPU (child)':<20}{figures['cpu_s']:>10.1f} s   the Python side (the import of Airflow included), "
          f"baseline {base['cpu_s']:.1f} s")
    ok = counts.get("rejected") == expected_rejected and counts.get("planned") == rows - expected_rejected
    ratio = base["total"] / total
    base_ok = base["accepted"] == rows - DUPLICATES - (expected_rejected - EARLIER - DUPLICATES)
    print(f"{'baseline':<20}{base['total']:>10.1f} s   {rows / base['total']:,.0f} rows/s (read, 11-test, duplicates, "
          f"UUIDv5, COPY), peak RSS {base['peak_rss_mb']:.0f} MB{'' if base_ok else '  BASELINE WRONG'}")
    met = total <= 15 and ratio >= 0.5 and figures["peak_rss_mb"] <= 500
    print(f"\nBBX at {ratio:.0%} of the baseline's rate; target <= 15 s, >= 50 % of the baseline, <= 500 MB: "
          f"{'MET' if met else 'NOT MET'}; counts {'correct' if ok else 'WRONG'}")
    emit_row(args.json, stage=f"intake, {rows:,}-row list", bbx=f"{total:.1f} s", baseline=f"{base['total']:.1f} s",
             ratio=ratio, rss_mb=figures["peak_rss_mb"], target="<= 15 s, >= 50 %, <= 500 MB", met=met and ok,
             correct=ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
