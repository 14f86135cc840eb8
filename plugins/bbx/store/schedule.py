"""A submission's schedule in the database (``bbx.domain.schedule`` checks it first).
Callers own the transaction: set it in the same one that accepts the submission, so no
delivery run can take it before its time."""

from __future__ import annotations

from bbx.domain.schedule import Schedule
from bbx.store import audit


def set_schedule(conn, submission_id: int, schedule: Schedule, *, actor: str) -> None:
    if schedule.send_at is None and schedule.publication_date is None:
        return
    conn.execute("UPDATE submissions SET send_at = %s, publication_date = %s WHERE id = %s",
                 (schedule.send_at, schedule.publication_date, submission_id))
    if schedule.publication_date is not None:
        conn.execute("UPDATE messages SET publication_date = %s WHERE submission_id = %s AND outcome = 'planned'",
                     (schedule.publication_date, submission_id))
    audit.record(conn, actor=actor, action="submission.scheduled", submission_id=submission_id,
                 details={"send_at": schedule.send_at.isoformat() if schedule.send_at else None,
                          "publication_date": schedule.publication_date.isoformat()
                          if schedule.publication_date else None})
