"""``bbx callbacks`` — an operator's view of the status callbacks (issue 18).

    bbx callbacks failed CONNECTION [--retrying]   the posts BBX gave up on (--retrying:
                                                   also those still being tried)
    bbx callbacks retry CONNECTION EVENT --by NAME post one failed or retrying event now
                                                   (audited)
"""

from __future__ import annotations


def _connection(conn, code: str) -> dict | None:
    from bbx.store import administration

    row = administration.connection_by_code(conn, code)
    if row is None:
        print(f"error: no connection {code!r} (bbx config show lists them)")
    return row


def _failed(args) -> int:
    from bbx.store import callbacks, db

    with db.connect() as conn:
        if (row := _connection(conn, args.connection)) is None:
            return 2
        events = callbacks.failed_deliveries(conn, row["id"], retrying=args.retrying)
    for e in events:
        when = e["failed_at"] if e["state"] == "failed" else e["next_attempt_at"]
        answer = f"HTTP {e['last_status']}" if e["last_status"] else (e["last_error"] or "-")
        print(f"{e['id']:>8}  {e['state']:<8}  {when:%Y-%m-%d %H:%M:%S%z}  submission {e['submission_id'] or '-'}  "
              f"{e['event']:<19}  {e['attempts']} attempts  {answer}")
    print(f"{len(events)} event(s) of connection {args.connection}")
    return 0


def _retry(args) -> int:
    from bbx.delivery import callbacks as deliverer
    from bbx.store import db

    with db.connect() as conn:
        if (row := _connection(conn, args.connection)) is None:
            return 2
        result = deliverer.retry_now(conn, row["id"], args.event, actor=f"operator:{args.by}")
    if result is None:
        print(f"error: connection {args.connection} has no undelivered callback event {args.event}")
        return 2
    print(f"event {args.event}: {result}")
    return 0 if result == "delivered" else 1


def add_parser(sub) -> None:
    group = sub.add_parser("callbacks", help="status callbacks: failed posts, retry").add_subparsers(
        dest="action", required=True)
    failed = group.add_parser("failed", help="the callback posts BBX gave up on, newest first")
    failed.add_argument("connection")
    failed.add_argument("--retrying", action="store_true", help="also the events still being retried")
    failed.set_defaults(func=_failed)
    retry = group.add_parser("retry", help="post one failed or retrying event now (exit 1: refused again)")
    retry.add_argument("connection")
    retry.add_argument("event", type=int)
    retry.add_argument("--by", required=True, help="your name: recorded in the audit log")
    retry.set_defaults(func=_retry)
