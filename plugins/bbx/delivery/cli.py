"""``bbx delivery`` — what operators need to see about delivery, without the Airflow UI.

    bbx delivery status [SUBMISSION ...]   open submissions (or the ones named) with their
                                           counts, held reasons and batches without a result
    bbx delivery approve REVIEW --by NAME  approve a held submission (the second way in,
    bbx delivery reject REVIEW --by NAME   next to Airflow's Required actions; bbx_review)
"""

from __future__ import annotations

import argparse


def _status(args) -> int:
    from bbx.store import db, holds
    from bbx.store import waiting as waiting_store

    with db.connect() as conn:
        ids = args.submission or waiting_store.open_submission_ids(conn)
        rows = waiting_store.progress(conn, ids)
        waiting = waiting_store.batches_waiting(conn, ids)
        reviews = holds.open_reviews(conn, ids)
    if not rows:
        print("no open submissions")
        return 0
    print(f"{'submission':>10}  {'connection':<12} {'channel':<7} {'status':<10} {'rows':>8}  "
          f"{'rejected':>8} {'not subs':>8} {'delivered':>9} {'failed':>7} {'cancel':>7}  {'open':>7}")
    for r in rows:
        open_ = r["planned"] + r["queued"] + r["sent"]
        print(f"{r['id']:>10}  {r['connection_code']:<12} {r['channel']:<7} {r['status']:<10} "
              f"{r['rows_handed_in'] or 0:>8}  {r['rejected']:>8} {r['not_subscribed']:>8} {r['delivered']:>9} "
              f"{r['failed']:>7} {r['cancelled']:>7}  {open_:>7}")
        if r["delivery_held"]:
            print(f"{'':>12}held: {r['delivery_held']}")
        for rv in reviews.get(r["id"], []):
            print(f"{'':>12}waiting for a decision: review {rv['id']} ({rv['kind']}, asked "
                  f"{rv['requested_at']:%Y-%m-%d %H:%M}): Airflow Required actions (bbx_review), or "
                  f"bbx delivery approve|reject {rv['id']} --by NAME")
        for b in waiting.get(r["id"], []):
            print(f"{'':>12}batch {b['batch_number']} ({b['id']}, {b['kind']}): {b['status']}, "
                  f"{b['message_count']} messages, sent {b['sent_at'] or '-'}"
                  + (f", last error: {b['last_error']}" if b["last_error"] else ""))
    return 0


def _decide(args) -> int:
    from bbx.delivery import holds

    try:
        outcome = holds.decide(args.review, approve=args.action == "approve", by=args.by, note=args.note)
    except (LookupError, holds.ApprovalRefused) as exc:
        print(f"error: {exc}")
        return 2
    print(f"review {outcome.review_id} (submission {outcome.submission_id}): {outcome.decision}"
          + (f", {outcome.messages_rejected} message(s) not sent" if outcome.messages_rejected else ""))
    return 0


def add_parser(sub) -> None:
    delivery = sub.add_parser("delivery", help="delivery to the Berichtenbox").add_subparsers(
        dest="action", required=True)
    status = delivery.add_parser("status", help="open submissions with their counts",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("submission", nargs="*", type=int, help="submission ids (default: every open one)")
    status.set_defaults(func=_status)
    for action in ("approve", "reject"):
        decide = delivery.add_parser(action, help=f"{action} a held submission (its review id: bbx delivery status)")
        decide.add_argument("review", type=int, help="the review id (also in the bbx_review run id review__<id>)")
        decide.add_argument("--by", required=True, help="your name: recorded in the audit log")
        decide.add_argument("--note", help="why")
        decide.set_defaults(func=_decide)
