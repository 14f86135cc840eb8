"""The pages' part in control over a send (issue 18): whether the submission page offers
the cancel button, the progress bar's figures, and what the manual page says before and
after a send ("N will be sent, M not subscribed"; a confirmation above a configurable
number of messages).

Kept apart from ``pages.py`` (which is at its size limit) and free of page rendering, so
``pages.py`` can use it; the cancel button's route is :mod:`bbx.api.pages_cancel`.
"""

from __future__ import annotations

import os

from bbx.api import service
from bbx.store import lookup, register
from bbx.store import progress as progress_store

CONFIRM_ABOVE_DEFAULT = 100


def confirm_above() -> int:
    """A manual send of more than this many messages asks for confirmation first
    (``BBX_MANUAL_CONFIRM_ABOVE``; 0: always ask)."""
    try:
        return max(int(os.environ.get("BBX_MANUAL_CONFIRM_ABOVE", CONFIRM_ABOVE_DEFAULT)), 0)
    except ValueError:
        return CONFIRM_ABOVE_DEFAULT


def forecast(conn, connection_id: int, bsns: list[str]) -> dict:
    """Before a manual send: how many of ``bsns`` BBX's register has subscribed today."""
    today = service.today()
    subscribed = sum(register.is_subscribed(conn, connection_id, b, today) for b in bsns)
    return {"will_send": subscribed, "not_subscribed": len(bsns) - subscribed}


def submission_forecast(conn, status: dict) -> dict:
    """After a manual send: what will go, by the register today plus what is already decided."""
    sub = lookup.submission(conn, status["id"])
    f = progress_store.register_forecast(conn, sub["id"], sub["connection_id"], service.today())
    counts = status["counts"]
    return {"will_send": f["will_send"] + sum(counts[o] for o in ("queued", "sent", "delivered", "failed")),
            "not_subscribed": f["not_subscribed"] + counts["not_subscribed"], "rejected": counts["rejected"]}


def cancellable(status: dict) -> bool:
    return status["status"] in ("accepted", "delivering") and any(
        status["counts"][o] for o in ("planned", "queued"))
