"""Population list (issue 16): hand in 1,000,000 BSNs, then a full list again with 1 % changed.

This script

1. makes a fresh BBX database (``bbx_register_bench_population`` on the configured server) with
   one connection, and writes the lists *before* timing: a CSV of N BSNs (header line,
   one BSN per line, with a few 8-digit BSNs, duplicates and typing errors, as a real
   municipality's export has them), the validated rows of that list, and a second full
   list with 1 % of the BSNs replaced;
2. in a fresh child process each (honest peak RSS, ``resource.getrusage``):

   * **bbx**: ``bbx.intake.population.hand_in_file`` — exactly what the web service and
     the CLI run (an SFTP drop runs the same check and store): read and check every row
     (11-test, 8-digit repair, each BSN once: ``bbx.domain.drop_check``), stream the
     valid ones into a staging table with COPY, one set-based statement, the submission
     and version logged, one transaction;
   * **baseline**: plain hand-written psycopg — COPY the *already validated* BSNs from a
     file into an equivalent table with the same unique index, nothing else (no checks,
     no history, no log): the floor for moving that many rows into PostgreSQL;
   * **bbx, second full list** on the existing population (1 % out, 1 % in);
3. checks the results (members, added, removed) and prints the figures.

Run: ``.venv/bin/python bench/bench_population.py`` (``--size`` to change N; ``--keep``
leaves the database).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_database_url, fresh_database, valid_bsns

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OIN = "00000001001234567000"
BAD_EVERY = 1000  # one row in this many is a typing error, a duplicate or an 8-digit BSN


def prepare(url: str, size: int, folder: Path) -> dict:
    from bbx.domain import bsn as bsn_rules
    from bbx.store import db

    fresh_database(url, sample_config=False)
    with db.transaction(url) as conn:
        tenant = conn.execute("INSERT INTO tenants (code, name) VALUES ('bench', 'Bench') RETURNING id").fetchone()["id"]
        cid = conn.execute(
            """INSERT INTO connections (tenant_id, code, name, oin, sender_code, cpa_id, sftp_folder)
               VALUES (%s, 'bench', 'Bench', %s, 'BENCH', 'cpa-bench', '/bench/bench') RETURNING id""",
            (tenant, OIN),
        ).fetchone()["id"]
        conn.execute("CREATE TABLE baseline_members (connection_id bigint NOT NULL, bsn char(9) NOT NULL)")
        conn.execute("CREATE UNIQUE INDEX ON baseline_members (connection_id, bsn)")
    t = time.perf_counter()
    valid: list[str] = []
    rows, bad = 0, {"typo": 0, "duplicate": 0, "eight_digits": 0}
    with open(folder / "population.csv", "w") as out:
        out.write("bsn\r\n")
        for i, b in enumerate(valid_bsns(size, 1_000_000)):  # leading zeros: some rows lose theirs
            if i % BAD_EVERY == 1 and valid:  # a duplicate of the row before
                out.write(valid[-1] + "\r\n")
                bad["duplicate"] += 1
                rows += 1
            if i % BAD_EVERY == 2:  # a typing error: two digits swapped, fails the 11-test
                swapped = b[:3] + b[4] + b[3] + b[5:]
                if swapped != b and not bsn_rules.passes_eleven_test(swapped):
                    out.write(swapped + "\r\n")
                    bad["typo"] += 1
                    rows += 1
            if b.startswith("0") and i % BAD_EVERY == 3:  # the spreadsheet's stripped zero
                out.write(b[1:] + "\r\n")
                bad["eight_digits"] += 1
            else:
                out.write(b + "\r\n")
            valid.append(b)
            rows += 1
    (folder / "validated.txt").write_text("\n".join(valid) + "\n")
    change = max(size // 100, 1)
    second = valid[change:] + list(valid_bsns(change, 90_000_000))
    (folder / "second.csv").write_text("bsn\n" + "\n".join(second) + "\n")
    return {"connection_id": cid, "rows": rows, "valid": len(valid), "bad": bad, "change": change,
            "csv_bytes": (folder / "population.csv").stat().st_size, "prepare_s": time.perf_counter() - t}


def child_bbx(url: str, connection_id: int, path: str, key: str) -> None:
    os.environ["BBX_DATABASE_URL"] = url
    from bbx.intake import population

    t0 = time.perf_counter()
    result = population.hand_in_file({"id": connection_id, "code": "bench"}, Path(path), file_name="population.csv",
                                     mode="full", channel="api", external_ref=key, submitted_by="bench")
    elapsed = time.perf_counter() - t0
    print(json.dumps({"s": elapsed, "population": result["population"],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child_baseline(url: str, connection_id: int, path: str) -> None:
    """Plain psycopg: COPY the validated BSNs, one transaction, nothing else."""
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY bbx.baseline_members (connection_id, bsn) FROM STDIN") as copy, open(path) as handle:
            for line in handle:
                copy.write_row((connection_id, line.rstrip("\n")))
        conn.commit()
        rows = cur.execute("SELECT count(*) FROM bbx.baseline_members").fetchone()[0]
    elapsed = time.perf_counter() - t0
    print(json.dumps({"s": elapsed, "rows": rows,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _run(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000, help="BSNs in the population")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, url, cid, path, *rest = args.child
        if kind == "bbx":
            child_bbx(url, int(cid), path, rest[0])
        else:
            child_baseline(url, int(cid), path)
        return 0

    from bbx.store import db

    url = bench_database_url("bbx_register_bench_population")
    with tempfile.TemporaryDirectory(prefix="bench_population_") as tmp:
        folder = Path(tmp)
        print(f"preparing: database bbx_register_bench_population, a list of {args.size:,} BSNs ...", flush=True)
        prep = prepare(url, args.size, folder)
        print(f"  {prep['rows']:,} rows ({prep['csv_bytes'] / 1e6:.1f} MB CSV; {prep['bad']}), "
              f"written in {prep['prepare_s']:.1f} s", flush=True)
        cid = str(prep["connection_id"])
        bbx = _run("--child", "bbx", url, cid, str(folder / "population.csv"), "bench-1")
        baseline = _run("--child", "baseline", url, cid, str(folder / "validated.txt"))
        second = _run("--child", "bbx", url, cid, str(folder / "second.csv"), "bench-2")
        with db.connect(url) as conn:
            members = conn.execute("SELECT count(*) AS n FROM population_members WHERE removed_by IS NULL"
                                   ).fetchone()["n"]
    if not args.keep:
        db.drop_database(url)

    first, again = bbx["population"], second["population"]
    rejected = prep["bad"]["typo"] + prep["bad"]["duplicate"]
    ok_first = (first["members"], first["rows_rejected"], first["rows_handed_in"]) == (prep["valid"], rejected,
                                                                                       prep["rows"])
    ok_base = baseline["rows"] == prep["valid"]
    ok_second = (again["added"], again["removed"], members) == (prep["change"], prep["change"], prep["valid"])
    print()
    print(f"bbx       first full list {prep['rows']:>9,} rows: {bbx['s']:6.2f} s, peak RSS {bbx['peak_rss_mb']:4.0f} MB"
          f"  (checked, {first['rows_rejected']:,} rejected, {first['members']:,} members)  "
          f"{'OK' if ok_first else 'WRONG RESULT'}")
    print(f"baseline  COPY of the validated {prep['valid']:>9,}: {baseline['s']:6.2f} s, peak RSS "
          f"{baseline['peak_rss_mb']:4.0f} MB  (no checks, no history, no log)  {'OK' if ok_base else 'WRONG RESULT'}")
    print(f"bbx       second full list (1 % changed):  {second['s']:6.2f} s, peak RSS {second['peak_rss_mb']:4.0f} MB"
          f"  (+{again['added']:,} -{again['removed']:,})  {'OK' if ok_second else 'WRONG RESULT'}")
    print(f"bbx / baseline (first list): {bbx['s'] / baseline['s']:.1f}x")
    return 0 if ok_first and ok_base and ok_second else 1


if __name__ == "__main__":
    sys.exit(main())
