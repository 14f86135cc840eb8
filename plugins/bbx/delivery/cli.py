"""``bbx delivery`` — what operators need to see about delivery, without the Airflow UI.

    bbx delivery status [SUBMISSION ...]   open submissions (or the ones named) with their
                                           counts, held reasons and batches without a result
"""

from __future__ import annotations

import argparse


def _status(args) -> int:
    from bbx.store import db
    from bbx.store import delivery as store

    with db.connect() as conn:
        ids = args.submission or store.open_submission_ids(conn)
        rows = store.progress(conn, ids)
        waiting = store.batches_waiting(conn, ids)
    if not rows:
        print("no open submissions")
        return 0
    print(f"{'submission':>10}  {'connection':<12} {'channel':<7} {'status':<10} {'rows':>8}  "
          f"{'rejected':>8} {'not subs':>8} {'delivered':>9} {'failed':>7}  {'open':>7}")
    for r in rows:
        open_ = r["planned"] + r["queued"] + r["sent"]
        print(f"{r['id']:>10}  {r['connection_code']:<12} {r['channel']:<7} {r['status']:<10} "
              f"{r['rows_handed_in'] or 0:>8}  {r['rejected']:>8} {r['not_subscribed']:>8} {r['delivered']:>9} "
              f"{r['failed']:>7}  {open_:>7}")
        if r["delivery_held"]:
            print(f"{'':>12}held: {r['delivery_held']}")
        for b in waiting.get(r["id"], []):
            print(f"{'':>12}batch {b['batch_number']} ({b['id']}, {b['kind']}): {b['status']}, "
                  f"{b['message_count']} messages, sent {b['sent_at'] or '-'}"
                  + (f", last error: {b['last_error']}" if b["last_error"] else ""))
    return 0


def add_parser(sub) -> None:
    delivery = sub.add_parser("delivery", help="delivery to the Berichtenbox").add_subparsers(
        dest="action", required=True)
    status = delivery.add_parser("status", help="open submissions with their counts",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("submission", nargs="*", type=int, help="submission ids (default: every open one)")
    status.set_defaults(func=_status)
