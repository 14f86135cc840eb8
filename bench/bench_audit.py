"""The audit log's hash chain: what sealing costs writers, and how fast `verify` is.

    python bench/bench_audit.py [--entries 1000000] [--batch 100000]

In a fresh database ``audit_bench`` (dropped afterwards):
- **write**: ``--entries`` audit entries with ``INSERT … SELECT`` in transactions of
  ``--batch``, through the real triggers (tenant fill, sealing at commit), beside the
  baseline: the same rows into a plain table of the same shape without triggers;
- **verify**: ``bbx.store.audit.verify`` (server-side cursor, Python re-computes every
  hash) beside the baseline: the same cursor reading the same rows and doing nothing.

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
    args = parser.parse_args(argv)

    from bbx.store import audit, db

    url = bench_database_url("audit_bench")
    fresh_database(url, sample_config=False)
    try:
        with db.transaction(url) as conn:
            conn.execute("CREATE TABLE plain_log (LIKE audit_log INCLUDING DEFAULTS)")
            conn.execute("ALTER TABLE plain_log ALTER COLUMN id SET DEFAULT nextval('audit_log_id_seq')")
        plain = _write(url, "plain_log", args.entries, args.batch)
        chained = _write(url, "audit_log", args.entries, args.batch)
        n = args.entries
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
