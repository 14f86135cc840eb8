"""A scheduled submission (issue 18) through delivery: nothing reaches the simulated
MijnOverheid before ``send_at``, everything after it, with the publication date at the
contract's limit (13 days after the send day) accepted there. Real PostgreSQL, the simulator
over mTLS, the real planner, sender and result collection; the moment passes as in
tests/moment_passes.py."""

from __future__ import annotations

from datetime import timedelta

from delivery_helpers import bsns, deliver, rows_for
from moment_passes import ahead, moment_passes, send_day

from bbx.domain.schedule import Schedule
from bbx.store import schedule as schedule_store


def test_a_scheduled_submission_is_sent_after_its_moment_and_not_before(world):
    numbers = bsns(3, seed=421)
    world.subscribe("voorbeeld", numbers)
    deliver(world, "run-warm-up")  # the first run in a process imports the sender: not timed below
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers))
    moment = ahead()
    publish = send_day() + timedelta(days=13)
    schedule_store.set_schedule(world.db, sid, Schedule(moment, publish), actor="test")
    world.db.commit()

    early = deliver(world, "run-early")
    assert sid not in early["submissions"] and world.status(sid) == "accepted"
    assert all(world.sim.admin.box(b) == [] for b in numbers)  # nothing with MijnOverheid

    moment = moment_passes(world.db, sid)
    late = deliver(world, "run-late")
    assert sid in late["submissions"] and world.status(sid) == "closed"
    assert {o for o, _code in world.outcomes(sid).values()} == {"delivered"}
    assert all(len(world.sim.admin.box(b)) == 1 for b in numbers)
    first_sent = world.db.execute("SELECT min(sent_at) AS t FROM messages WHERE submission_id = %s",
                                  (sid,)).fetchone()["t"]
    world.db.commit()
    assert first_sent >= moment
