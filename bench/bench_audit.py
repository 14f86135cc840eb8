"""The audit log's hash chain: what sealing costs writers, and how fast `verify` is.

    python bench/bench_audit.py [--entries 1000000] [--batch 100000]
    python bench/bench_audit.py --verify-only --entries 1000000

In a fresh database ``audit_bench`` (dropped afterwards):
- **write**: ``--entries`` audit entries with ``INSERT … SELECT`` in transactions of
  ``--batch``, through the real triggers (tenant fill, sealing at commit), beside the
  baseline: the same rows into a plain table of the same shape without triggers;
- **verify**: ``bbx.store.audit.verify`` (server-side cursor, Python re-computes every
  hash) beside the baseline: the same cursor reading the same rows and doing nothing.

``--verify-only`` skips the write comparison and fills the log fast instead: the chain is
computed in Python (bbx.domain.audit_chain) and COPYed in with the triggers off, so that
`verify` can be timed on a million entries in a minute.

Prints entries/s of each and the ratios. Timings on a loaded machine: read the ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import bench_database_url, fresh_database  # noqa: E402

_FILL = """INSERT INTO {table} (actor, action, tenant_id, details)
SELECT 'api-key:bench' || (g %% 7), 'bench.step', NULL,
       jsonb_build_object('i', g, 'note', 'rows ' || g, 'bsn', '******' || lpad((g %% 1000)::text, 3, '0'))
FROM generate_series(%s::bigint, %s::bigint) g"""


def _write(url: str, table: str, entries: int, batch: int) -> float:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET search_path TO bbx, public")
        for first in range(1, entries + 1, batch):
            conn.execute(_FILL.format(table=table), (first, min(first + batch - 1, entries)))
            conn.commit()
    return time.perf_counter() - started


def _copy_fill(url: str, entries: int) -> float:
    """The same kind of rows, chained in Python and COPYed with the triggers off."""
    import json
    from datetime import UTC, datetime, timedelta

    import psycopg

    from bbx.domain import audit_chain

    started = time.perf_counter()
    base = datetime(2026, 12, 1, tzinfo=UTC)
    prev = None
    with psycopg.connect(url) as conn:
        conn.execute("SET search_path TO bbx, public")
        conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy("COPY audit_log (id, seq, prev_hash, hash, at, actor, action, details, outcome)"
                                " FROM STDIN") as copy:
            for i in range(1, entries + 1):
                # jsonb's own text form (keys by length, then bytes), so the digest matches
                details = json.dumps({"i": i, "bsn": f"******{i % 1000:03d}", "note": f"rows {i}"},
                                     ensure_ascii=False)
                e = audit_chain.Entry(i, prev, i, base + timedelta(microseconds=i), f"api-key:bench{i % 7}",
                                      "bench.step", None, None, None, details, "ok", None, None)
                h = audit_chain.digest(e)
                copy.write_row((i, i, prev, h, e.at, e.actor, e.action, details, "ok"))
                prev = h
        conn.execute("SELECT setval('audit_log_id_seq', %s)", (entries,))
        conn.commit()
    return time.perf_counter() - started


def _read_only(url: str) -> tuple[int, float]:
    """The baseline of verify: the same query and cursor, no hashing."""
    from psycopg.rows import tuple_row

    from bbx.store import db

    started = time.perf_counter()
    n = 0
    with db.connect(url) as conn:
        conn.row_factory = tuple_row
        with conn.transaction(), conn.cursor(name="baseline") as cur:
            cur.itersize = 20_000
            cur.execute("SELECT seq, prev_hash, id, at, actor, action, tenant_id, connection_id, submission_id,"
                        " details::text, outcome, reason, hash FROM audit_log ORDER BY seq")
            for _row in cur:
                n += 1
    return n, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--verify-only", action="store_true", help="fill fast (COPY), time verify only")
    args = parser.parse_args(argv)

    from bbx.store import audit, db

    url = bench_database_url("audit_bench")
    fresh_database(url, sample_config=False)
    try:
        with db.transaction(url) as conn:
            conn.execute("CREATE TABLE plain_log (LIKE audit_log INCLUDING DEFAULTS)")
            conn.execute("ALTER TABLE plain_log ALTER COLUMN id SET DEFAULT nextval('audit_log_id_seq')")
        n = args.entries
        if args.verify_only:
            filled = _copy_fill(url, n)
            print(f"fill    {n:,} entries by COPY (chain computed in Python) in {filled:.1f} s")
        else:
            plain = _write(url, "plain_log", n, args.batch)
            chained = _write(url, "audit_log", n, args.batch)
            print(f"write   {n:,} entries: chained {n / chained:>10,.0f}/s ({chained:.1f} s)   "
                  f"baseline plain table {n / plain:>10,.0f}/s ({plain:.1f} s)   ratio {chained / plain:.2f}x the time")

        read_n, read_s = _read_only(url)
        started = time.perf_counter()
        result = audit.verify(url)
        verify_s = time.perf_counter() - started
        if not result.ok or result.checked != n or read_n != n:
            print(f"unexpected: verify ok={result.ok} checked={result.checked}, read {read_n}", file=sys.stderr)
            return 1
        print(f"verify  {n:,} entries: {n / verify_s:>10,.0f}/s ({verify_s:.1f} s)   "
              f"baseline read only {n / read_s:>10,.0f}/s ({read_s:.1f} s)   ratio {verify_s / read_s:.2f}x the time")
    finally:
        db.drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
