"""Cancelling a submission (issue 18): what is not yet in an acknowledged batch becomes
``cancelled``, what is with MijnOverheid is not recalled, and a sender in flight neither
sends a cancelled message nor loses one. Real PostgreSQL; the last test runs a real sender
process against the simulator over mTLS and cancels while it sends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psycopg
import pytest
from delivery_helpers import DAY, assert_exactly_once, bsns, record_results, rows_for, send_all

from bbx.delivery import plan, results, send
from bbx.domain import delivery as rules
from bbx.domain import outcomes
from bbx.store import batches as batch_store
from bbx.store import cancel, db, result_files, submissions


def _cancel(tenants, sid, actor="tenant:test"):
    with db.unit(tenants.db):
        return cancel.cancel_submission(tenants.db, sid, actor=actor)


def _reconciled(tenants, sid):
    counts = tenants.counts(sid)
    return outcomes.reconcile(sum(counts.values()), counts)


def test_cancel_before_planning_cancels_every_row_and_closes(tenants):
    numbers = bsns(3, seed=181)
    rows = [*rows_for(numbers), submissions.NewRow(row_number=4, bsn=None, rejection="bad BSN")]
    sid = tenants.submit("voorbeeld", "PASPRT", rows)
    result = _cancel(tenants, sid)
    assert (result.cancelled, result.not_cancelled, result.already_final, result.closed) == (3, 0, 1, True)
    assert result.first_request
    assert tenants.status(sid) == "closed"
    check = _reconciled(tenants, sid)
    assert check.complete and "+ cancelled 3 = 4 of 4 rows" in check.explanation
    # the planner never takes it; a second cancel is harmless and says so
    assert plan.plan_run("run-c1", max_map_length=1024, url=tenants.url, day=DAY)["submissions"] == []
    again = _cancel(tenants, sid)
    assert (again.cancelled, again.first_request) == (0, False)
    # the tenant's result file says so: one row per input row, cancelled with a reason
    lines = b"".join(rules.result_file_rows(result_files.result_rows(tenants.db, sid))).decode("utf-8-sig")
    tenants.db.commit()
    cancelled_lines = [line for line in lines.splitlines() if ";cancelled;" in line]
    assert len(cancelled_lines) == 3 and all("geannuleerd" in line and "Cancelled" in line
                                             for line in cancelled_lines)
    audit = tenants.db.execute("SELECT count(*) AS n FROM audit_log WHERE action = 'submission.cancelled' "
                               "AND submission_id = %s", (sid,)).fetchone()["n"]
    tenants.db.commit()
    assert audit == 2


@pytest.mark.usefixtures("english")
def test_cancel_after_sending_began_cancels_only_unacknowledged_batches(tenants):
    numbers = bsns(2500, seed=182)
    tenants.subscribe("voorbeeld", numbers)
    sid = tenants.submit("voorbeeld", "PASPRT", rows_for(numbers))
    planned = plan.plan_run("run-c2", max_map_length=1024, url=tenants.url, day=DAY)
    batch_ids = [b for s in planned["slices"] for b in s["batch_ids"]]
    assert len(batch_ids) == 3
    first = {"slices": [{"batch_ids": batch_ids[:1]}]}
    send_all(tenants.db, first)  # the adapter acknowledged batch 1

    result = _cancel(tenants, sid)
    assert (result.cancelled, result.not_cancelled, result.batches_cancelled, result.closed) == (1500, 1000, 2, False)
    assert "1,000 message(s) were already with MijnOverheid" in result.explanation  # a count as English writes it
    statuses = [batch_store.batch(tenants.db, b)["status"] for b in batch_ids]
    tenants.db.commit()
    assert statuses == ["sent", "cancelled", "cancelled"]
    # the sender never sends a cancelled batch (it does not even need the adapter)
    summary = send.send_batches(batch_ids[1:], hooks=send.Hooks(lambda code: pytest.fail("no send")),
                                url=tenants.url)
    assert summary.outcomes == {"cancelled": 2}
    # a sent message cannot be cancelled: the database refuses it too
    with pytest.raises(psycopg.errors.CheckViolation, match="cannot go from sent to cancelled"):
        with tenants.db.transaction():
            tenants.db.execute("""UPDATE messages SET outcome = 'cancelled', outcome_reason = 'x', final_at = now()
                                  WHERE batch_id = %s""", (batch_ids[0],))
    tenants.db.rollback()
    # what was with MijnOverheid gets its outcome; then the rule adds up and it closes
    ids = tenants.db.execute("SELECT message_id::text AS m FROM messages WHERE batch_id = %s",
                             (batch_ids[0],)).fetchall()
    tenants.db.commit()
    c = tenants.connections["voorbeeld"]
    record_results(tenants.db, c.id, batch_ids[0], [(r["m"], "Verwerkt") for r in ids])
    assert plan.close_finished(tenants.db, [sid]) == [sid]
    tenants.db.commit()
    counts = tenants.counts(sid)
    assert (counts["delivered"], counts["cancelled"]) == (1000, 1500)
    assert _reconciled(tenants, sid).complete


@pytest.mark.usefixtures("english")
def test_a_batch_locked_by_a_sender_is_left_to_it_and_cancelled_when_it_comes_round(tenants):
    numbers = bsns(1200, seed=183)
    tenants.subscribe("voorbeeld", numbers)
    sid = tenants.submit("voorbeeld", "PASPRT", rows_for(numbers))
    planned = plan.plan_run("run-c3", max_map_length=1024, url=tenants.url, day=DAY)
    batch_ids = [b for s in planned["slices"] for b in s["batch_ids"]]
    with db.connect(tenants.url) as sender:  # a sender's session holds batch 1's lock (mid-send)
        assert batch_store.lock_for_sending(sender, batch_ids[0])
        sender.commit()
        result = _cancel(tenants, sid)
        assert (result.cancelled, result.not_cancelled, result.batches_cancelled) == (200, 1000, 1)
        # the sender could not take batch 2 now: the cancel took it
        assert not batch_store.lock_for_sending(sender, batch_ids[1]) or \
            batch_store.batch(sender, batch_ids[1])["status"] == "cancelled"
        batch_store.unlock_after_sending(sender, batch_ids[0])  # its send failed (adapter down)
        sender.commit()
    # the retry finds the submission cancelled and cancels the batch instead of sending it
    summary = send.send_batches(batch_ids[:1], hooks=send.Hooks(lambda code: pytest.fail("no send")),
                                url=tenants.url)
    assert summary.outcomes == {"cancelled": 1}
    assert plan.close_finished(tenants.db, [sid]) == [sid]
    tenants.db.commit()
    assert tenants.counts(sid)["cancelled"] == 1200 and _reconciled(tenants, sid).complete


@pytest.mark.usefixtures("english")
def test_cancel_refuses_what_cannot_be_cancelled(tenants):
    c = tenants.connections["voorbeeld"]
    sub = submissions.open_submission(tenants.db, connection_id=c.id, channel="api", external_ref="k-183",
                                      submitted_by="test", message_type_id=c.types["PASPRT"])
    tenants.db.commit()
    with pytest.raises(cancel.NotCancellable, match="still being received"):
        _cancel(tenants, sub.id)
    submissions.reject(tenants.db, sub.id, reason="broken", actor="test")
    tenants.db.commit()
    with pytest.raises(cancel.NotCancellable, match="rejected as a whole"):
        _cancel(tenants, sub.id)
    with pytest.raises(cancel.NotCancellable, match="does not exist"):
        _cancel(tenants, 987654)


SEND_SLICE = """
import json, sys
from bbx.delivery.send import send_batches
print(json.dumps(send_batches(json.loads(sys.argv[1])).as_dict()))
"""


def test_cancel_while_a_real_sender_sends_loses_nothing_and_sends_nothing_cancelled(world):
    numbers = bsns(4200, seed=184)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers))
    (the_slice,) = plan.plan_run("run-c4", max_map_length=1024, url=world.url)["slices"]
    assert len(the_slice["batch_ids"]) == 5
    sim = world.sim
    sim.admin.set_faults(latency=0.4)
    env = {**os.environ, **world.airflow_env, "BBX_DATABASE_URL": world.url}
    worker = subprocess.Popen([sys.executable, "-c", SEND_SLICE, json.dumps(the_slice["batch_ids"])], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300  # a loaded machine: the worker's start and first batch are slow
        while sim.admin.stats()["batches"] < 1:  # MijnOverheid has the first batch: cancel now
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the worker sent nothing"
            time.sleep(0.01)
        result = _cancel(world, sid)
        out, err = worker.communicate(timeout=300)
    finally:
        worker.kill()
    assert worker.returncode == 0, err.decode()[-2000:]
    sent = json.loads(out.decode().strip().splitlines()[-1])
    sim.admin.set_faults(latency=0.0)
    assert result.cancelled >= 1000 and result.cancelled + result.not_cancelled == 4200
    deadline = time.monotonic() + 300
    while results.open_submissions([sid], url=world.url):
        results.collect(submission_ids=[sid], url=world.url)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    counts = world.counts(sid)
    # exactly what the answer said: the cancelled were never sent, the rest was delivered
    assert (counts["cancelled"], counts["delivered"]) == (result.cancelled, result.not_cancelled)
    assert sent["messages_sent"] == result.not_cancelled
    assert sim.admin.stats()["delivered"] == result.not_cancelled
    assert assert_exactly_once(world, [sid]) == result.not_cancelled  # no cancelled message in any box
    assert world.status(sid) == "closed" and _reconciled(world, sid).complete
