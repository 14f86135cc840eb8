"""``bbx submissions`` — an operator's control over a send (issue 18).

    bbx submissions cancel ID --by NAME   cancel what is not yet with MijnOverheid
    bbx submissions progress ID [--follow SECONDS]
                                          the progress bar of one submission (--follow:
                                          redraw until it is done)
"""

from __future__ import annotations

import sys
import time


def _cancel(args) -> int:
    from bbx.delivery import control
    from bbx.store.cancel import NotCancellable

    try:
        result = control.cancel(args.submission, actor=f"operator:{args.by}")
    except NotCancellable as exc:
        print(f"error: {exc}")
        return 2
    print(f"submission {result.submission_id}: {result.cancelled} cancelled, {result.not_cancelled} already with "
          f"MijnOverheid or being sent (cannot be recalled), {result.already_final} final before"
          + ("; closed" if result.closed else "")
          + ("" if result.first_request else " (it had been cancelled before)"))
    return 0


def bar(p, width: int = 30) -> str:
    """``[#####.....]  50% 5/10 final · in batches 8 · acknowledged 6 · ~12 s left (sending)``"""
    filled = width * p.percent // 100
    left = f" · ~{p.seconds_left} s left" if p.seconds_left is not None else ""
    return (f"[{'#' * filled}{'.' * (width - filled)}] {p.percent:>3}% {p.final}/{p.handed_in} final · "
            f"in batches {p.in_batches} · acknowledged {p.acknowledged}{left} ({p.stage})")


def _progress(args) -> int:
    from datetime import datetime

    from bbx.domain.localtime import TIMEZONE
    from bbx.store import db, lookup
    from bbx.store.progress import submission_progress

    interactive = sys.stdout.isatty()
    while True:
        with db.connect() as conn:
            sub = lookup.submission(conn, args.submission)
            if sub is None:
                print(f"error: no submission {args.submission}")
                return 2
            p = submission_progress(conn, sub, now=datetime.now(TIMEZONE))
        line = f"submission {args.submission}: {bar(p)}"
        if not args.follow or p.stage == "done":
            print(("\r" if interactive and args.follow else "") + line)
            return 0
        print(("\r" + line) if interactive else line, end="" if interactive else "\n", flush=True)
        time.sleep(args.follow)


def add_parser(sub) -> None:
    group = sub.add_parser("submissions", help="control over a send").add_subparsers(dest="action", required=True)
    cancel = group.add_parser("cancel", help="cancel a submission's messages not yet with MijnOverheid")
    cancel.add_argument("submission", type=int)
    cancel.add_argument("--by", required=True, help="your name: recorded in the audit log and the result file")
    cancel.set_defaults(func=_cancel)
    progress = group.add_parser("progress", help="a submission's progress (handed in → in batches → "
                                                 "acknowledged → final)")
    progress.add_argument("submission", type=int)
    progress.add_argument("--follow", type=float, metavar="SECONDS", help="redraw every SECONDS until done")
    progress.set_defaults(func=_progress)
