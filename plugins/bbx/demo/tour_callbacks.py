"""Status callbacks on the demo stack (issue 18): the demo registers the stack's callback
receiver for the tour's connection (:func:`bbx.demo.receiver.register_receiver`), and
``make tour`` checks what it got (:func:`check`).

The receiver (``simulator.callback_receiver``, a stack service) is a tenant's HTTPS
endpoint with a certificate of the demo's own test root: BBX trusts that root as the
connection's own CA bundle (what ``callback.ca_file`` gives in a tenant configuration).
Its HMAC secret lives where a configured callback's secret must: an Airflow Variable
(``bbx.stack.start`` puts it in the metadata database right after ``airflow db migrate``,
so it exists before any task signs with it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bbx.demo.tour_common import CONNECTION, OIN, TYPE, send


def _received(stack, submission: int) -> list[dict]:
    path = Path(stack.callback_record)
    lines = path.read_text().splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if (r["body"] or {}).get("submission") == submission]


def _complete(posts: list[dict], rows: int) -> bool:
    events = {p["event"] for p in posts}
    finals = {m["row"] for p in posts if p["event"] == "messages.final" for m in p["body"]["messages"]}
    return {"submission.accepted", "submission.closed"} <= events and len(finals) == rows


def check(tour, timeout: float = 180) -> None:
    """A standard letter to 3 citizens (2 subscribed) through the web
    service; once it is closed, the receiver must have got its accepted, closed-with-counts
    (those of the submission's status) and per-message final callbacks (every row, adding
    up to the counts), each with a signature that verifies, and the failed-deliveries API
    must list nothing of the connection."""
    if not tour.stack.callback_url:
        tour.check("callbacks / receiver", False, "this stack has no callback receiver: make stop, then make demo")
        return
    bsns = tour.citizens(CONNECTION, OIN, "active", 2) + tour.citizens(CONNECTION, OIN, "never", 1)
    with tour.http() as client:
        sid = send(client, {"message_type": TYPE, "text": "Een brief met statusberichten.", "bsns": bsns})["id"]
        status = tour.wait_closed(client, sid, timeout)
        deadline = time.monotonic() + timeout  # bbx_callbacks posts once a minute
        posts = _received(tour.stack, sid)
        while not _complete(posts, len(bsns)) and time.monotonic() < deadline:
            time.sleep(3)
            posts = _received(tour.stack, sid)
        by_event = {p["event"]: p for p in posts}
        finals = sorted((m["row"], m["outcome"]) for p in posts if p["event"] == "messages.final"
                        for m in p["body"]["messages"])
        closed = by_event.get("submission.closed", {}).get("body") or {}
        counts = {k: v for k, v in (closed.get("counts") or {}).items() if v}
        tour.check("callbacks: signed (HMAC verified)", bool(posts) and all(p["verified"] for p in posts),
                   f"submission {sid}: {len(posts)} posts to {tour.stack.callback_url}, "
                   f"{sum(p['verified'] for p in posts)} verified")
        accepted = (by_event.get("submission.accepted", {}).get("body") or {}).get("rows_handed_in")
        tour.check("callbacks: accepted", accepted == len(bsns), f"submission.accepted rows_handed_in {accepted}")
        expected = {k: v for k, v in status["counts"].items() if v and k in closed.get("counts", {})}
        tour.check("callbacks: closed with counts", status["status"] == "closed" and bool(counts)
                   and counts == expected, f"submission.closed counts {counts}, the status's {expected}")
        # every row once, and the outcomes add up to the counts (which citizens the register
        # has as subscribed is the register's business: the simulator may be a day ahead)
        per_outcome = {o: sum(1 for _, x in finals if x == o) for _, o in finals}
        tour.check("callbacks: per-message final", [r for r, _ in finals] == [1, 2, 3] and per_outcome == counts,
                   f"messages.final rows {finals}")
        failed = client.get(f"/connections/{CONNECTION}/callback/failed", params={"retrying": "true"})
        listed = failed.json().get("failed", []) if failed.status_code == 200 else None
        tour.check("callbacks: failed deliveries / API", listed == [],
                   f"HTTP {failed.status_code}, failed or retrying: {len(listed) if listed is not None else '?'}")
