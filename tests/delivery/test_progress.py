"""Progress of a submission (issue 18): the four stages with counts and an estimate, as
the API, the page and ``bbx submissions progress`` show them; and ``bbx submissions
cancel``. Real PostgreSQL, the real planner and result recorder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from delivery_helpers import DAY, bsns, record_results, rows_for, send_all

from bbx import cli
from bbx.delivery import plan
from bbx.domain.progress import progress
from bbx.store import lookup
from bbx.store.progress import submission_progress


def _progress(tenants, sid):
    sub = lookup.submission(tenants.db, sid)
    p = submission_progress(tenants.db, sub, now=datetime.now(UTC))
    tenants.db.commit()
    return p


def test_progress_through_the_stages(tenants, capsys):
    numbers = bsns(1500, seed=191)
    tenants.subscribe("voorbeeld", numbers[:1400])  # 100 not subscribed: final before anything is sent
    sid = tenants.submit("voorbeeld", "PASPRT", rows_for(numbers))
    p = _progress(tenants, sid)
    assert (p.stage, p.handed_in, p.in_batches, p.final, p.seconds_left) == ("waiting", 1500, 0, 0, None)
    planned = plan.plan_run("run-p1", max_map_length=1024, url=tenants.url, day=DAY)
    batch_ids = [b for s in planned["slices"] for b in s["batch_ids"]]
    p = _progress(tenants, sid)
    assert (p.stage, p.in_batches, p.acknowledged, p.final) == ("sending", 1400, 0, 100)
    assert p.seconds_left is None  # nothing went out yet: no guess
    send_all(tenants.db, {"slices": [{"batch_ids": batch_ids}]})
    p = _progress(tenants, sid)
    assert (p.stage, p.acknowledged) == ("waiting_for_results", 1400)
    ids = tenants.db.execute("SELECT message_id::text AS m FROM messages WHERE batch_id = %s",
                             (batch_ids[0],)).fetchall()
    tenants.db.commit()
    record_results(tenants.db, tenants.connections["voorbeeld"].id, batch_ids[0], [(r["m"], "Verwerkt") for r in ids])
    p = _progress(tenants, sid)
    assert (p.final, p.percent) == (1100, 73) and p.seconds_left is not None and p.seconds_left >= 0
    assert cli.main(["submissions", "progress", str(sid)]) == 0
    line = capsys.readouterr().out
    assert "73% 1100/1500 final" in line and "acknowledged 1400" in line and "waiting_for_results" in line
    # an operator cancels: nothing unsent is left, so only the sent messages stay open
    assert cli.main(["submissions", "cancel", str(sid), "--by", "erik"]) == 0
    out = capsys.readouterr().out
    assert "0 cancelled, 400 already with MijnOverheid" in out
    assert cli.main(["submissions", "cancel", "987654", "--by", "erik"]) == 2


def test_the_estimate_is_the_pace_so_far():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    p = progress(status="delivering", handed_in=1000, in_batches=1000, acknowledged=1000, final=250,
                 final_after_send=250, first_sent_at=now - timedelta(seconds=60), now=now)
    assert (p.stage, p.percent, p.seconds_left) == ("waiting_for_results", 25, 180)
    scheduled = progress(status="accepted", handed_in=5, in_batches=0, acknowledged=0, final=0, final_after_send=0,
                         first_sent_at=None, now=now, send_at=now + timedelta(hours=1))
    assert (scheduled.stage, scheduled.seconds_left) == ("scheduled", None)
    done = progress(status="closed", handed_in=5, in_batches=5, acknowledged=5, final=5, final_after_send=5,
                    first_sent_at=now, now=now)
    assert (done.stage, done.percent, done.seconds_left) == ("done", 100, None)
