"""How far a submission is (issue 18, "Progress"): the four stages a tenant sees —
handed in → in batches → acknowledged → final — and an estimate of the time left.

The estimate is the pace so far: the final outcomes reached since the first batch went,
per second, applied to what is still open. No estimate before anything went out (a
guess would be a lie); none once everything is final.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime


@dataclass(frozen=True)
class Progress:
    handed_in: int
    in_batches: int
    acknowledged: int
    final: int
    percent: int
    seconds_left: int | None
    stage: str

    def as_dict(self) -> dict:
        return asdict(self)


def progress(*, status: str, handed_in: int, in_batches: int, acknowledged: int, final: int,
             final_after_send: int, first_sent_at: datetime | None, now: datetime,
             send_at: datetime | None = None) -> Progress:
    """``final_after_send``: final outcomes of messages that were in a batch (the pace of
    sending; rows rejected or not subscribed before sending say nothing about it)."""
    open_ = max(handed_in - final, 0)
    percent = 100 if handed_in == 0 else min(100, final * 100 // handed_in)
    if status in ("closed", "rejected") or (handed_in and open_ == 0):
        stage = "done"
    elif status == "accepted" and send_at is not None and send_at > now:
        stage = "scheduled"
    elif status in ("received", "accepted"):
        stage = "waiting"
    elif in_batches == 0:
        stage = "planning"
    elif acknowledged < in_batches:
        stage = "sending"
    else:
        stage = "waiting_for_results"
    seconds_left = None
    if stage not in ("done", "scheduled", "waiting") and first_sent_at is not None and final_after_send > 0:
        elapsed = max((now - first_sent_at).total_seconds(), 1.0)
        seconds_left = round(elapsed / final_after_send * open_)
    return Progress(handed_in, in_batches, acknowledged, final, percent, seconds_left, stage)
