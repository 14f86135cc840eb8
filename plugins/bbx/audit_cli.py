"""``bbx audit ...`` — read and verify the audit log (operators and auditors).

    bbx audit list [--tenant CODE] [--actor TEXT] [--action ACTION] [--outcome ok|refused]
                   [--since DAY] [--until DAY] [--limit N] [--csv]
    bbx audit verify [--expect SEQ:HASH]

``verify`` re-computes the whole hash chain and names the first broken entry (exit 1);
it prints the head (last seq and hash): keep that elsewhere (the ISAE evidence file) and
pass it back with ``--expect`` to also detect entries cut off the end.
"""

from __future__ import annotations

import sys
import time
from datetime import date


def _list(args) -> int:
    from bbx.api import audit_views
    from bbx.api.auth import Principal
    from bbx.api.errors import ApiError
    from bbx.store import audit, db

    operator = Principal("cli", "operator", None, None, "cli", "cli")
    with db.connect() as conn:
        try:
            filters = audit_views.filters_for(conn, operator, tenant=args.tenant, actor=args.actor, action=args.action,
                                              outcome=args.outcome, since=args.since, until=args.until)
        except ApiError as exc:
            print(exc.message, file=sys.stderr)
            return 2
        if args.csv:
            from bbx.progress import Progress

            out = sys.stdout.buffer
            with Progress("audit list", unit="entries", quiet=args.quiet) as progress:
                for chunk in audit_views.csv_chunks(progress.track(audit.stream(conn, filters))):
                    out.write(chunk)
            out.flush()
            return 0
        rows = audit.search(conn, filters, limit=args.limit)
    if not rows:
        print("no audit entries match")
    for r in reversed(rows):
        outcome = "ok" if r["outcome"] == "ok" else f"REFUSED: {r['reason']}"
        where = " ".join(x for x in (r["tenant"], r["connection"],
                                     f"submission {r['submission_id']}" if r["submission_id"] else None) if x)
        print(f"{r['id']:>8}  {audit_views.local_time(r['at'])}  {r['actor']:<24} {r['action']:<32} "
              f"{outcome:<8} {where or '-'}  {r['details']}")
    if len(rows) == args.limit:
        print(f"(the newest {args.limit}; --limit or --csv for more)", file=sys.stderr)
    return 0


def _verify(args) -> int:
    from bbx.progress import Progress
    from bbx.store import audit

    started = time.perf_counter()
    with Progress("audit verify", unit="entries", quiet=args.quiet) as progress:
        if progress.shown:  # the count costs a scan of its own: only for someone watching
            progress.total = audit.entry_count()
        result = audit.verify(watch=progress.track)
    seconds = time.perf_counter() - started
    rate = result.checked / seconds if seconds > 0 else 0.0
    print(f"checked {result.checked:,} entries in {seconds:.2f} s ({rate:,.0f} entries/s)")
    if result.broken is not None:
        print(f"BROKEN at seq {result.broken.seq}: {result.broken.message}", file=sys.stderr)
        print("The entries before it are intact. Keep the database as it is and follow "
              "docs/operations.md (audit log: a broken chain).", file=sys.stderr)
        return 1
    head = f"{result.head_seq}:{result.head_hash.hex()}" if result.head_hash else "empty"
    if args.expect:
        seq_text, _, hash_text = args.expect.partition(":")
        if not _head_matches(seq_text, hash_text):
            print(f"BROKEN: the entry recorded as head {args.expect} is not in the chain as it was "
                  f"(entries cut off the end, or the chain rebuilt); head now {head}", file=sys.stderr)
            return 1
    print(f"chain intact; head {head}")
    return 0


def _head_matches(seq_text: str, hash_text: str) -> bool:
    from bbx.store import audit

    return seq_text.isdigit() and audit.hash_at(int(seq_text)) == hash_text.strip().lower()


def add_parser(sub) -> None:
    """Add ``audit`` to the ``bbx`` command's subparsers."""
    from bbx import progress

    parser = sub.add_parser("audit", help="read and verify the audit log").add_subparsers(dest="action", required=True)
    ls = parser.add_parser("list", help="audit entries (newest 200; --csv for all that match)")
    ls.add_argument("--tenant", help="tenant code")
    ls.add_argument("--actor", help="part of who did it (user:name, api-key:prefix, airflow:name, cli:login)")
    ls.add_argument("--action", help="an action (submission.received) or an area (submission)")
    ls.add_argument("--outcome", choices=("ok", "refused"))
    ls.add_argument("--since", type=date.fromisoformat, help="first day, YYYY-MM-DD (Dutch time, inclusive)")
    ls.add_argument("--until", type=date.fromisoformat, help="last day, YYYY-MM-DD (inclusive)")
    ls.add_argument("--limit", type=int, default=200)
    ls.add_argument("--csv", action="store_true", help="every matching entry as CSV (oldest first) on stdout")
    progress.add_argument(ls)
    ls.set_defaults(func=_list)
    verify = parser.add_parser("verify", help="check the hash chain; exit 1 and name the first broken entry")
    verify.add_argument("--expect", metavar="SEQ:HASH",
                        help="a head printed by an earlier verify: it must still be in the chain")
    progress.add_argument(verify)
    verify.set_defaults(func=_verify)
