"""Control over a send, one entry for every channel (web service, manual page, SFTP
``CANCEL`` marker, ``bbx submissions cancel``): each opens its own unit of work here and
gets the same answer (``bbx.store.cancel.CancelResult``)."""

from __future__ import annotations

from bbx.store import cancel as cancel_store
from bbx.store import db


def cancel(submission_id: int, *, actor: str, conn=None, url: str | None = None) -> cancel_store.CancelResult:
    """Cancel what can still be cancelled; raises ``NotCancellable`` with the reason."""
    if conn is not None:
        with db.unit(conn):
            return cancel_store.cancel_submission(conn, submission_id, actor=actor)
    with db.connect(url) as own, db.unit(own):
        return cancel_store.cancel_submission(own, submission_id, actor=actor)
