"""What the demo prints at its end: the reconciled counts per submission and the tenants'
outboxes copied to ``demo-out/``."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from bbx.demo.common import (
    OUT_DIR,
    step,
)
from bbx.stack import Stack
from bbx.store import db
from bbx.store import demo as demo_store


def submission_report(url: str, since: datetime) -> list[dict]:
    from bbx.store import submissions

    with db.connect(url) as conn:
        subs = demo_store.submissions_since(conn, since)
        for sub in subs:
            sub["counts"] = submissions.outcome_counts(conn, sub["id"])
    return subs


def print_report(subs: list[dict]) -> bool:
    step("reconciled counts per submission (rejected + not subscribed + delivered + failed + cancelled = rows "
         "handed in)")
    all_closed = True
    for s in subs:
        c = s["counts"]
        if s["status"] == "rejected":
            all_closed = False
            print(f"    submission {s['id']:>3} {s['connection']:<10} {s['message_type'] or '-':<8} rejected as a "
                  "whole by intake (the tenant's .rejected.txt report is in the outbox)")
            continue
        final = c["rejected"] + c["not_subscribed"] + c["delivered"] + c["failed"] + c["cancelled"]
        ok = s["status"] == "closed" and final == s["rows_handed_in"]
        all_closed &= ok
        still_open = "" if ok else f"   (still open: {c['planned'] + c['queued'] + c['sent']})"
        print(f"    submission {s['id']:>3} {s['connection']:<10} {s['message_type'] or '-':<8} {s['status']:<9} "
              f"rows {s['rows_handed_in'] or 0:>3} = rejected {c['rejected']} + not subscribed {c['not_subscribed']} "
              f"+ delivered {c['delivered']} + failed {c['failed']} + cancelled {c['cancelled']}{still_open}")
    return all_closed


def copy_outboxes(stack: Stack, tenants) -> None:
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    for tenant in tenants:
        for c in tenant.connections:
            source = Path(stack.sftp_root) / c.sftp_folder.strip("/") / "outbox"
            if source.exists():
                shutil.copytree(source, OUT_DIR / c.sftp_folder.strip("/") / "outbox")
    files = sorted(p.relative_to(OUT_DIR) for p in OUT_DIR.rglob("*") if p.is_file()) if OUT_DIR.exists() else []
    step(f"tenant outboxes copied to {OUT_DIR} ({len(files)} files)")
    for f in files[:12]:
        print(f"    {f}")
    if len(files) > 12:
        print(f"    ... and {len(files) - 12} more")
