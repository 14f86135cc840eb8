"""Restore drill of BBX's database (issue 19; the procedure: docs/operations.md, *Backups*).

Backs up a running BBX database with ``pg_dump`` (custom format), restores the dump into a
fresh database with ``pg_restore``, and checks that everything came back intact: per table
of schema ``bbx`` the row count and an MD5 over the rows in primary-key order (md5 of each
row's text, concatenated), and every sequence's position (so new ids do not collide after
a restore). Submissions, messages (the outcomes), delivery results, outcome corrections
and the audit log are tables like any other here: one differing table fails the drill.
Prints how long each step took and exits 1 on any difference.

    python scripts/restore_drill.py                       # BBX's configured database
    python scripts/restore_drill.py --source URL          # another one (read-only: pg_dump)
    python scripts/restore_drill.py --generate 1000000    # a fresh harden_drill_src with 1 M messages first

The restored database is ``<source>_restored`` unless --target says otherwise; it is
dropped at the end unless --keep. pg_dump/pg_restore: the first found (PATH,
/usr/lib/postgresql/*/bin, the embedded pgserver's bin) whose major version equals the
server's, else the lowest newer one (an older pg_dump cannot dump a newer server).
"""

from __future__ import annotations

import argparse
import glob
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SCHEMA = "bbx"


# --------------------------------------------------------------------------- the tools


def _major(binary: str) -> int | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else None


def _candidates(name: str) -> list[str]:
    found = [shutil.which(name) or ""]
    found += sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    try:
        import pgserver

        found.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name))
    except ImportError:
        pass
    return [f for f in dict.fromkeys(found) if f and Path(f).is_file()]


def pg_tool(name: str, server_major: int) -> str:
    """The pg_dump/pg_restore for a server of ``server_major``."""
    versions = [(v, path) for path in _candidates(name) if (v := _major(path)) is not None]
    usable = sorted((v, path) for v, path in versions if v >= server_major)
    if not usable:
        raise SystemExit(f"no {name} for PostgreSQL {server_major} (found: {versions or 'none'}); "
                         f"install postgresql-client-{server_major}")
    same = [path for v, path in usable if v == server_major]
    return same[0] if same else usable[0][1]


def server_major(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


# --------------------------------------------------------------------------- fingerprints


@dataclass
class Fingerprint:
    tables: dict[str, tuple[int, str]] = field(default_factory=dict)  # table → (rows, md5)
    sequences: dict[str, tuple[int, bool]] = field(default_factory=dict)  # sequence → (last_value, is_called)


def fingerprint(url: str) -> Fingerprint:
    """Rows and MD5 of every table of schema bbx, and every sequence's position."""
    result = Fingerprint()
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")  # row texts must not depend on the session
        conn.execute("SET extra_float_digits = 3")
        tables = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname", (SCHEMA,))]
        for table in tables:
            pk = [r[0] for r in conn.execute(
                """SELECT a.attname FROM pg_index i
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                   WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)""",
                (f"{SCHEMA}.{table}",))]
            order = ", ".join(f't."{c}"' for c in pk) if pk else "t::text"
            rows, digest = conn.execute(
                f'SELECT count(*), md5(coalesce(string_agg(md5(t::text), \'\' ORDER BY {order}), \'\'))'
                f' FROM {SCHEMA}."{table}" t').fetchone()
            result.tables[table] = (rows, digest)
        for (seq,) in conn.execute(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = %s ORDER BY sequencename", (SCHEMA,)):
            last, called = conn.execute(f'SELECT last_value, is_called FROM {SCHEMA}."{seq}"').fetchone()
            result.sequences[seq] = (last, called)
    return result


def differences(before: Fingerprint, after: Fingerprint) -> list[str]:
    found = []
    for kind, a, b in (("table", before.tables, after.tables), ("sequence", before.sequences, after.sequences)):
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                found.append(f"{kind} {name}: backed up {a.get(name)}, restored {b.get(name)}")
    return found


# --------------------------------------------------------------------------- generated data


def generate(url: str, messages: int) -> None:
    """A fresh database at ``url`` with the sample tenants and ``messages`` messages
    (set-based inserts: submissions of up to 10 000, BSNs that pass the 11-test, mixed
    outcomes, encrypted texts, one audit entry per 100 messages and per submission)."""
    from cryptography.fernet import Fernet

    from bbx import settings
    from bbx.config.model import load
    from bbx.store import administration, db, migrations

    db.drop_database(url)
    db.ensure_database(url)
    migrations.migrate(url)
    with db.transaction(url) as conn:
        administration.apply_config(conn, load(settings.PROJECT_ROOT / "config" / "sample" / "tenants.yaml"),
                                    actor="restore-drill")
        per = 10_000
        subs = -(-messages // per)
        conn.execute(
            """INSERT INTO submissions (connection_id, message_type_id, channel, external_ref, submitted_by,
                                        status, rows_handed_in)
               SELECT mt.connection_id, mt.id, 'api', 'drill-' || g, 'restore-drill', 'accepted',
                      least(%(per)s, %(n)s - (g - 1) * %(per)s)
               FROM generate_series(1, %(subs)s) g
               CROSS JOIN LATERAL (SELECT id, connection_id FROM message_types
                                   ORDER BY id OFFSET (g %% (SELECT count(*) FROM message_types)) LIMIT 1) mt""",
            {"per": per, "n": messages, "subs": subs})
        # eight digits from a counter; the ninth makes the 11-test hold (9..2 weights, -1 for the last)
        conn.execute(
            """WITH numbers AS (
                   SELECT n, d, (9*d[1] + 8*d[2] + 7*d[3] + 6*d[4] + 5*d[5] + 4*d[6] + 3*d[7] + 2*d[8]) %% 11 AS chk
                   FROM (SELECT n, array(SELECT substr(lpad((10000000 + n)::text, 8, '0'), i, 1)::int
                                         FROM generate_series(1, 8) i) AS d
                         FROM generate_series(1, %(n)s * 12 / 10 + 20) n) x),
               bsns AS (SELECT row_number() OVER (ORDER BY n) AS k, array_to_string(d, '') || chk AS bsn
                        FROM numbers WHERE chk < 10 LIMIT %(n)s),
               slots AS (SELECT s.id, s.connection_id, s.message_type_id, r, (row_number() OVER (ORDER BY s.id, r)) AS k
                         FROM submissions s CROSS JOIN LATERAL generate_series(1, s.rows_handed_in) r
                         WHERE s.external_ref LIKE 'drill-%%')
               INSERT INTO messages (submission_id, connection_id, message_type_id, row_number, bsn, message_id,
                                     subject, text_encrypted, outcome, outcome_code, outcome_reason, final_at)
               SELECT sl.id, sl.connection_id, sl.message_type_id, sl.r, b.bsn, md5('drill' || sl.k)::uuid,
                      'Bericht ' || sl.k, %(token)s,
                      CASE WHEN sl.k %% 10 < 7 THEN 'delivered' WHEN sl.k %% 10 < 9 THEN 'not_subscribed'
                           ELSE 'planned' END,
                      CASE WHEN sl.k %% 10 < 7 THEN '0' END,
                      CASE WHEN sl.k %% 10 BETWEEN 7 AND 8 THEN 'not subscribed to this message type' END,
                      CASE WHEN sl.k %% 10 < 9 THEN now() END
               FROM slots sl JOIN bsns b USING (k)""",
            {"n": messages, "token": Fernet(Fernet.generate_key()).encrypt(b"Uw aanvraag is ontvangen.")})  # a drill key
        conn.execute(
            """INSERT INTO audit_log (actor, action, connection_id, submission_id, details)
               SELECT 'restore-drill', 'submission.accepted', connection_id, id,
                      jsonb_build_object('rows', rows_handed_in) FROM submissions WHERE external_ref LIKE 'drill-%%'
               UNION ALL
               SELECT 'restore-drill', 'delivery.outcomes', NULL, NULL, jsonb_build_object('batch', g)
               FROM generate_series(1, greatest(%(n)s / 100, 1)) g""",
            {"n": messages})


# --------------------------------------------------------------------------- the drill


def _timed(label: str, timings: list, fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    timings.append((label, time.perf_counter() - start))
    print(f"  {label:<38} {timings[-1][1]:8.2f} s", flush=True)
    return value


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr.strip()}")


def drill(source: str, target: str, *, keep: bool = False, work: Path | None = None) -> list[str]:
    """Back up ``source``, restore into a fresh ``target``, compare; returns the differences."""
    from bbx.store import db

    major = server_major(source)
    pg_dump, pg_restore = pg_tool("pg_dump", major), pg_tool("pg_restore", major)
    print(f"server PostgreSQL {major}; {pg_dump} ({_major(pg_dump)}), {pg_restore} ({_major(pg_restore)})")
    timings: list = []
    folder = Path(work or tempfile.mkdtemp(prefix="harden_drill_"))
    dump = folder / "bbx.dump"
    try:
        before = _timed("fingerprint of the running database", timings, fingerprint, source)
        _timed("pg_dump --format=custom", timings, _run,
               [pg_dump, "--format=custom", "--no-owner", "--no-privileges", "--file", str(dump), source])
        _run([pg_restore, "--list", str(dump)])  # the archive's table of contents reads back
        db.drop_database(target)
        db.ensure_database(target)
        _timed("pg_restore into a fresh database", timings, _run,
               [pg_restore, "--exit-on-error", "--no-owner", "--no-privileges", "--jobs", "2",
                "--dbname", target, str(dump)])
        after = _timed("fingerprint of the restored database", timings, fingerprint, target)
        found = differences(before, after)
        rows = {t: n for t, (n, _) in before.tables.items()}
        print(f"  dump size {dump.stat().st_size / 1e6:.1f} MB; {len(before.tables)} tables, "
              f"{len(before.sequences)} sequences, {sum(rows.values())} rows")
        for table in ("submissions", "messages", "delivery_results", "outcome_corrections", "audit_log"):
            if table in before.tables:
                mark = "same" if before.tables[table] == after.tables.get(table) else "DIFFERENT"
                print(f"    {table:<22} {rows[table]:>10} rows  md5 {before.tables[table][1]}  {mark}")
        print(f"  total {sum(t for _, t in timings):.2f} s")
        return found
    finally:
        dump.unlink(missing_ok=True)
        if work is None:
            shutil.rmtree(folder, ignore_errors=True)
        if not keep:
            db.drop_database(target)


def main(argv: list[str] | None = None) -> int:
    from bbx import settings
    from bbx.store.db import sibling_url

    parser = argparse.ArgumentParser(prog="restore_drill.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", help="the database to back up (default: BBX's configured one)")
    parser.add_argument("--target", help="the fresh database to restore into (default: <source>_restored)")
    parser.add_argument("--generate", type=int, metavar="MESSAGES",
                        help="first make a fresh source database harden_drill_src with this many messages")
    parser.add_argument("--keep", action="store_true", help="keep the restored database")
    args = parser.parse_args(argv)
    source = args.source or settings.database_url()
    if args.generate is not None:
        source = args.source or sibling_url(settings.database_url(), "harden_drill_src")
        start = time.perf_counter()
        generate(source, args.generate)
        print(f"generated {args.generate} messages in {source.rsplit('/', 1)[-1]}: "
              f"{time.perf_counter() - start:.2f} s")
    name = source.rsplit("/", 1)[-1].split("?")[0]
    target = args.target or sibling_url(source, f"{name}_restored")
    print(f"restore drill: {name} → {target.rsplit('/', 1)[-1].split('?')[0]}")
    found = drill(source, target, keep=args.keep)
    if found:
        print("RESTORE DRILL FAILED — not everything came back:", *found, sep="\n  ", file=sys.stderr)
        return 1
    print("restore drill passed: every table (rows and MD5) and every sequence came back intact")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
