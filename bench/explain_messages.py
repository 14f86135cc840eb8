"""EXPLAIN (ANALYZE, BUFFERS) of the reads and moves of ``messages`` (issue 17, migration
260) on one large submission, through BBX's own store functions.

1. a fresh database (``<prefix>bbx_explain_messages``), the sample configuration, ``--rows``
   citizens of which the first ``--subscribed`` share is in the register; one submission of
   all of them, COPYed as intake does (untimed);
2. the plan step (register decision, cut into batches), marking every batch sent, one
   result, the closing check, the stuck-message sweep, the sent / undelivered reports and a
   submission's progress. Each UPDATE of interest runs under EXPLAIN ANALYZE (that is its
   real run), each read of interest once under EXPLAIN ANALYZE and once for its rows;
3. prints per statement: execution time, shared buffers hit/read/dirtied/written, the
   plan's top node, and the share of updates that were HOT.

No baseline: this is the profile behind docs/performance.md (*messages*), not a stage of
``make bench``. Run: ``.venv/bin/python bench/explain_messages.py --rows 1000000``
(``--plans`` prints whole plans, ``--keep`` keeps the database).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from _common import bench_workspace, fresh_database, seed_register
from bench_send import CONNECTION, MESSAGE_TYPE, hand_in

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WATCHED = re.compile(r"^\s*(UPDATE messages|SELECT .*FROM (batches b JOIN messages|submissions s)|"
                     r"SELECT count\(\*\) FILTER|WITH|SELECT s\.id FROM submissions s|SELECT m\.id, m\.message_id)", re.S)


class _Done:
    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


class Explaining:
    """A psycopg connection whose watched statements run under EXPLAIN ANALYZE: an UPDATE
    once (its effect is the real one), a read once more for its rows."""

    def __init__(self, conn, label: str, report: list, *, plans: bool) -> None:
        self._conn, self._label, self._report, self._plans = conn, label, report, plans

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def execute(self, sql, params=None, **kwargs):
        if not WATCHED.match(sql):
            return self._conn.execute(sql, params, **kwargs)
        rows = self._conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()
        plan = rows[next(iter(rows))] if isinstance(rows, dict) else rows[0]
        self._record(plan)
        if sql.lstrip().startswith("UPDATE"):
            # EXPLAIN ANALYZE did the update (run twice, a rolled-back first run would leave
            # dead rows in the pages, and the real run would find less room for HOT updates)
            return _Done(plan[0]["Plan"]["Plans"][0]["Actual Rows"])
        return self._conn.execute(sql, params, **kwargs)

    def _record(self, explained) -> None:
        plan = explained[0]
        top = plan["Plan"]
        entry = {"label": self._label, "ms": plan["Execution Time"], "hit": top.get("Shared Hit Blocks", 0),
                 "read": top.get("Shared Read Blocks", 0), "dirtied": top.get("Shared Dirtied Blocks", 0),
                 "written": top.get("Shared Written Blocks", 0), "node": _nodes(top),
                 "triggers": sum(t["Time"] for t in plan.get("Triggers", [])), "rows": top.get("Actual Rows")}
        self._report.append(entry)
        print(f"  {self._label:<34} {entry['ms']:>10,.1f} ms  (triggers {entry['triggers']:,.1f} ms)  "
              f"buffers hit {entry['hit']:,} read {entry['read']:,} dirtied {entry['dirtied']:,}  {entry['node']}",
              flush=True)
        if self._plans:
            print(_text(top, 2))


def _nodes(node, depth: int = 0) -> str:
    """The plan's shape in one line: node types with the relation or index they read."""
    name = node["Node Type"]
    if node.get("Index Name"):
        name += f"[{node['Index Name']}]"
    elif node.get("Relation Name"):
        name += f"[{node['Relation Name']}]"
    children = node.get("Plans", [])
    return name if not children or depth > 3 else name + "(" + ", ".join(_nodes(c, depth + 1) for c in children) + ")"


def _text(node, indent: int) -> str:
    line = " " * indent + f"{node['Node Type']} {node.get('Relation Name', '')} {node.get('Index Name', '')}" \
        f" rows={node.get('Actual Rows')} loops={node.get('Actual Loops')} time={node.get('Actual Total Time')}"
    return "\n".join([line] + [_text(c, indent + 2) for c in node.get("Plans", [])])


def hot_share(conn) -> str:
    r = conn.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'messages'"
                     ).fetchone()
    return f"{r['n_tup_hot_upd']:,} of {r['n_tup_upd']:,} updates HOT" if r["n_tup_upd"] else "no updates yet"


def _submission(rows: int, subscribed: float) -> tuple[str, int]:
    """The bench database and its one submission (being delivered), the share ``subscribed``
    of its citizens in the register."""
    from bbx.domain import bsn as bsn_rules
    from bbx.store import db

    started = time.perf_counter()
    url = bench_workspace("bbx-explain-", "bbx_explain_messages")[1]
    fresh_database(url)
    numbers = list(bsn_rules.generate(rows, seed=19))
    # spread evenly over the rows, as a register decision is over a real list
    seed_register(url, CONNECTION, [b for i, b in enumerate(numbers) if int((i + 1) * subscribed) > int(i * subscribed)])
    sid = hand_in(url, numbers)  # bench_send's: one sftp submission, accepted, no four-eyes threshold
    with db.transaction(url) as conn:
        conn.execute("UPDATE submissions SET status = 'delivering' WHERE id = %s", (sid,))
    print(f"{rows:,} rows handed in in {time.perf_counter() - started:.1f} s (untimed)", flush=True)
    return url, sid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--subscribed", type=float, default=0.4)
    parser.add_argument("--plans", action="store_true", help="print every plan in full")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    url, sid = _submission(args.rows, args.subscribed)

    from bbx.domain.globe import BatchResult, MessageResult
    from bbx.store import batches, db, reports, result_files, results, sweep
    from bbx.store.progress import submission_progress

    report: list[dict] = []
    try:
        with db.connect(url) as raw:
            raw.execute("ANALYZE messages")
            raw.commit()
            sub = raw.execute("SELECT s.*, c.code AS connection_code FROM submissions s JOIN connections c"
                              " ON c.id = s.connection_id WHERE s.id = %s", (sid,)).fetchone()
            print("plan step", flush=True)
            step = time.perf_counter()
            ns = batches.decide_register(Explaining(raw, "decide_register", report, plans=args.plans), sid,
                                         sub["connection_id"], date.today())
            ids = batches.cut_into_batches(Explaining(raw, "cut_into_batches", report, plans=args.plans), sid,
                                           connection_id=sub["connection_id"],
                                           connection_code=sub["connection_code"])
            raw.commit()
            print(f"  {ns:,} not subscribed, {len(ids)} batches; {hot_share(raw)} "
                  f"(with the EXPLAIN runs: {time.perf_counter() - step:.1f} s)", flush=True)

            print("sending (the database's part)", flush=True)
            batches.batch_messages(Explaining(raw, "batch_messages", report, plans=args.plans), ids[0])
            batches.mark_sent(Explaining(raw, "mark_sent", report, plans=args.plans), ids[0],
                              ebms_message_id="e-0", size_bytes=1)
            raw.commit()
            step = time.perf_counter()
            for n, b in enumerate(ids[1:], 1):
                batches.mark_sent(raw, b, ebms_message_id=f"e-{n}", size_bytes=1)
                raw.commit()
            print(f"  {len(ids) - 1} more batches marked sent in {time.perf_counter() - step:.1f} s; {hot_share(raw)}",
                  flush=True)

            # every sent message counts as stuck (0 minutes): the sweep's worst case
            sweep.stuck_submissions(Explaining(raw, "sweep.stuck_submissions", report, plans=args.plans),
                                    stuck_minutes=0)
            raw.rollback()
            print("results", flush=True)
            step = time.perf_counter()
            for n, b in enumerate(ids):
                lines = raw.execute(f"SELECT m.message_id::text AS m FROM messages m WHERE {batches.IN_RANGE}",
                                    batches.batch_range(raw, b)).fetchall()
                result = BatchResult(batch_id=b, supplier_code="x", total_received=len(lines), succeeded=None,
                                     not_subscribed=None, technical_problem=None, message_type_incorrect=None,
                                     publication_date_incorrect=None, creation_date_incorrect=None,
                                     received_at=None, processed_at=None,
                                     messages=tuple(MessageResult(r["m"], MESSAGE_TYPE, "Verwerkt", "NA")
                                                    for r in lines))
                conn = Explaining(raw, "record_result", report, plans=args.plans) if n == 0 else raw
                results.record_result(conn, connection_id=sub["connection_id"], ebms_message_id=f"r-{n}",
                                      payload_sha256="0" * 64, result=result, max_attempts=3)
                closer = Explaining(raw, "closable_submissions", report, plans=args.plans) if n in (0, len(ids) - 1) \
                    else raw
                result_files.closable_submissions(closer, submission_ids=[sid])
                raw.commit()
            print(f"  {len(ids)} results recorded (each with the closing check) in {time.perf_counter() - step:.1f} s;"
                  f" {hot_share(raw)}", flush=True)

            print("reads by time", flush=True)
            today = date.today()
            reports.sent_per_message_type(Explaining(raw, "reports.sent", report, plans=args.plans),
                                          sub["connection_id"], today - timedelta(days=30), today)
            reports.undelivered_per_message_type(Explaining(raw, "reports.undelivered", report, plans=args.plans),
                                                 sub["connection_id"], today - timedelta(days=30), today)
            from datetime import datetime

            submission_progress(Explaining(raw, "progress", report, plans=args.plans), dict(sub),
                                now=datetime.now().astimezone())
            raw.rollback()
    finally:
        if not args.keep:
            db.drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
