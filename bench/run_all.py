"""``make bench``: every stage benchmark of issue 17, one table.

Runs, one after the other (each in its own process, each with its own plain baseline
measured in the same run, see the script's docstring):

==========================  =====================================  ==================
stage                       script (full sizes)                    target
==========================  =====================================  ==================
intake, 1M-row list         bench_intake.py --rows 1000000         <= 15 s, >= 50 %
register, full list 1M      bench_register.py --size 1000000       >= 90 % of baseline
sending, 400k subscribed    bench_send.py --messages 400000        >= 10,000 msg/s
end to end, 1M rows, 40 %   bench_delivery_e2e.py --rows 1000000   <= 60 s
manual send of 10 BSNs      bench_send_to_closed.py                <= 30 s
==========================  =====================================  ==================

and prints one table: stage, BBX, baseline, ratio (BBX's rate / the baseline's), peak
RSS, target met. ``--quick`` uses a tenth of the sizes (a figure for a change, not for
the README); ``--only intake,register`` picks stages. The manual send runs on the
``make demo`` stack of ``BBX_STACK_DIR`` when one is running, else it starts a stack of
its own (``bbx.stack``, fresh bench databases) and stops it afterwards. The end-to-end
run starts a whole Airflow (``bbx.stack``) too; it has no baseline of its own (its
parts' are the rows above). A stage that fails or times out keeps its work folder; its
log (below) says where.

Every bench database is prefixed with ``BBX_BENCH_DB_PREFIX`` (e.g. ``perf_``) when set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROW_MARK = "BENCHROW "

# stage -> (script, full-size arguments, quick arguments)
STAGES: dict[str, tuple[str, list[str], list[str]]] = {
    "intake": ("bench_intake.py", ["--rows", "1000000"], ["--rows", "100000"]),
    "register": ("bench_register.py", ["--size", "1000000", "--changes", "10000"],
                 ["--size", "100000", "--changes", "2000"]),
    "sending": ("bench_send.py", ["--messages", "400000"], ["--messages", "40000"]),
    "e2e": ("bench_delivery_e2e.py", ["--rows", "1000000", "--subscribed", "0.4", "--timeout", "3600"],
            ["--rows", "100000", "--subscribed", "0.4"]),
    "manual": ("bench_send_to_closed.py", ["--rounds", "1", "--own-stack"], ["--rounds", "1", "--own-stack"]),
}


def run_stage(name: str, quick: bool, log_dir: Path) -> dict:
    script, full, small = STAGES[name]
    argv = [sys.executable, str(HERE / script), *(small if quick else full)]
    argv.append("--json")
    log = log_dir / f"{name}.log"
    print(f"== {name}: {' '.join(argv[1:])}  (log {log})", flush=True)
    started = time.monotonic()
    with open(log, "w") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, cwd=HERE.parent).returncode
    elapsed = time.monotonic() - started
    text = log.read_text(errors="replace")
    rows = [json.loads(line[len(ROW_MARK):]) for line in text.splitlines() if line.startswith(ROW_MARK)]
    if rows:
        row = rows[-1]
    else:
        tail = " | ".join(text.strip().splitlines()[-3:])[:300]
        row = {"stage": name, "bbx": "failed" if code else "no figure", "baseline": "-", "ratio": None,
               "rss_mb": None, "target": "-", "met": False, "note": tail}
    if code and row.get("met"):
        row["met"] = False  # a wrong count or a failed check is never a met target
    print(f"   {elapsed:.0f} s, exit {code}", flush=True)
    return row


def table(rows: list[dict]) -> str:
    def fmt_ratio(r):
        return "-" if r.get("ratio") is None else f"{r['ratio']:.0%}"

    def fmt_rss(r):
        return "-" if r.get("rss_mb") is None else f"{r['rss_mb']:,.0f} MB"

    def fmt_met(r):
        return {True: "yes", False: "NO", None: "not run"}[r.get("met")]

    lines = ["| stage | BBX | baseline | ratio | peak RSS | target | met |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['bbx']} | {r['baseline']} | {fmt_ratio(r)} | {fmt_rss(r)} | "
                     f"{r['target']} | {fmt_met(r)} |")
    notes = [f"- {r['stage']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--only", help=f"comma-separated stages of {','.join(STAGES)}")
    parser.add_argument("--logs", default=None, help="folder for each benchmark's full output")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(STAGES)
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
    log_dir = Path(args.logs or HERE.parent / "data" / "bench-logs")
    log_dir.mkdir(parents=True, exist_ok=True)
    rows = [run_stage(n, args.quick, log_dir) for n in names]
    load = os.getloadavg()[0]
    print()
    print(f"issue 17 benchmarks ({'quick sizes' if args.quick else 'full sizes'}; load average {load:.1f}; "
          "ratio = BBX's rate / the baseline's, same run)")
    print(table(rows))
    return 0 if all(r.get("met") is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
