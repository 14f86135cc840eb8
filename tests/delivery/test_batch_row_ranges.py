"""Migration 260: a batch is a row range of its submission, the open messages of a
submission are counted per statement, and no index names a column that changes. Each
access path that replaced an index, where it could behave differently from a lookup by
batch_id / outcome / sent_at."""

from __future__ import annotations

import psycopg
import pytest
from delivery_helpers import (
    DAY,
    bsns,
    message_ids,
    planned_submission,
    record_results,
    rows_for,
    send_all,
    sent_submission,
)

from bbx.delivery import plan
from bbx.store import batches as batch_store
from bbx.store import result_files, submissions
from bbx.store import sweep as sweep_store


def _ranges(db, sid):
    return [(r["batch_number"], r["kind"], r["first_row"], r["last_row"], r["message_count"]) for r in db.execute(
        "SELECT batch_number, kind, first_row, last_row, message_count FROM batches WHERE submission_id = %s"
        " ORDER BY batch_number", (sid,))]


def _open(db, sid):
    return db.execute("SELECT open_messages AS n FROM submissions WHERE id = %s", (sid,)).fetchone()["n"]


def _open_counted(db, sid):
    return sum(n for o, n in submissions.outcome_counts(db, sid).items() if o in ("planned", "queued", "sent"))


def test_planned_batches_are_row_ranges_that_skip_unsubscribed_rows(tenants):
    db = tenants.db
    numbers = bsns(2500, seed=261)
    subscribed = numbers[::2]  # every other row is not subscribed: the ranges hold both kinds
    tenants.subscribe("voorbeeld", subscribed)
    sid, planned = planned_submission(tenants, numbers)
    assert _ranges(db, sid) == [(1, "initial", 1, 1999, 1000), (2, "initial", 2001, 2499, 250)]
    batch_ids = [b for s in planned["slices"] for b in s["batch_ids"]]
    by_bsn = message_ids(db, sid)
    for batch_id, part in zip(batch_ids, (subscribed[:1000], subscribed[1000:]), strict=True):
        got = batch_store.batch_messages(db, batch_id)
        assert [m["message_id"] for m in got] == [by_bsn[b] for b in part]  # in row order, no unsubscribed row
    assert _open(db, sid) == _open_counted(db, sid) == 1250
    db.commit()


def test_a_resend_batch_overlaps_its_first_batch_and_keeps_its_own_messages(tenants):
    db = tenants.db
    c, numbers, sid, (batch_1,) = sent_submission(tenants, 6, seed=262)
    by_bsn = message_ids(db, sid)
    # rows 2 and 4 get TechnischProbleem: a resend batch for rows 2..4, inside batch 1's 1..6
    summary = record_results(db, c.id, batch_1, [(by_bsn[numbers[1]], "TechnischProbleem"),
                                                 (by_bsn[numbers[3]], "TechnischProbleem")])
    resend = summary.resend_batch
    assert _ranges(db, sid) == [(1, "initial", 1, 6, 6), (2, "resend", 2, 4, 2)]
    assert [m["message_id"] for m in batch_store.batch_messages(db, resend)] == [by_bsn[numbers[1]],
                                                                                 by_bsn[numbers[3]]]
    # batch 1 still holds its four sent messages, not the two that moved on (nor row 3 twice)
    assert [m["message_id"] for m in batch_store.batch_messages(db, batch_1)] == [
        by_bsn[b] for b in (numbers[0], numbers[2], numbers[4], numbers[5])]
    # sending the resend batch moves exactly its two messages
    assert batch_store.mark_sent(db, resend, ebms_message_id="e-resend", size_bytes=1) == 2
    db.commit()
    # a late result of batch 1 with delivery evidence for row 2: recorded against batch 1
    late = record_results(db, c.id, batch_1, [(by_bsn[numbers[1]], "Verwerkt")], ebms_id="late-1")
    assert late.applied == {"delivered": 1}
    row = db.execute("SELECT batch_id::text AS b, outcome FROM messages WHERE message_id = %s",
                     (by_bsn[numbers[1]],)).fetchone()
    assert (row["b"], row["outcome"]) == (batch_1, "delivered")
    assert [m["message_id"] for m in batch_store.batch_messages(db, resend)] == [by_bsn[numbers[3]]]
    assert _open(db, sid) == _open_counted(db, sid) == 5
    db.commit()


def test_delivery_evidence_outside_a_batchs_range_widens_it(tenants):
    db = tenants.db
    c, numbers, sid, (batch_1,) = sent_submission(tenants, 4, seed=263)
    by_bsn = message_ids(db, sid)
    summary = record_results(db, c.id, batch_1, [(by_bsn[numbers[2]], "TechnischProbleem"),
                                                 (by_bsn[numbers[3]], "TechnischProbleem")])
    resend = summary.resend_batch
    assert _ranges(db, sid)[1] == (2, "resend", 3, 4, 2)
    batch_store.mark_sent(db, resend, ebms_message_id="e-r", size_bytes=1)
    db.commit()
    # a (wrong) result of the resend batch that also carries row 1's BerichtID as delivered:
    # delivery evidence wins, the message is recorded against the resend batch, whose
    # range grows to hold it
    wide = record_results(db, c.id, resend, [(by_bsn[numbers[0]], "Verwerkt"), (by_bsn[numbers[2]], "Verwerkt"),
                                             (by_bsn[numbers[3]], "Verwerkt")], ebms_id="wide")
    assert wide.applied == {"delivered": 3}
    assert _ranges(db, sid)[1] == (2, "resend", 1, 4, 2)
    assert db.execute("SELECT count(*) AS n FROM messages m WHERE " + batch_store.IN_RANGE,
                      batch_store.batch_range(db, resend)).fetchone()["n"] == 3
    db.commit()


def test_the_database_keeps_messages_inside_their_batchs_range(tenants):
    db = tenants.db
    numbers = bsns(3, seed=264)
    tenants.subscribe("voorbeeld", numbers[:2])
    sid, planned = planned_submission(tenants, numbers)
    (batch_1,) = [b for s in planned["slices"] for b in s["batch_ids"]]
    assert _ranges(db, sid) == [(1, "initial", 1, 2, 2)]
    db.commit()
    with pytest.raises(psycopg.errors.CheckViolation, match="whose row range does not hold it"), db.transaction():
        db.execute("UPDATE messages SET batch_id = %s WHERE submission_id = %s AND row_number = 3", (batch_1, sid))
    with pytest.raises(psycopg.errors.CheckViolation, match="can only grow"), db.transaction():
        db.execute("UPDATE batches SET last_row = 1 WHERE id = %s", (batch_1,))
    # a message of batch 1 moved within its range is fine; into another submission's batch is not
    other = tenants.submit("voorbeeld", "PASPRT", rows_for(numbers[:1]))
    db.execute("""INSERT INTO batches (id, connection_id, submission_id, batch_number, message_count, first_row,
                                       last_row) VALUES (gen_random_uuid(), %s, %s, 1, 1, 1, 3)""",
               (tenants.connections["voorbeeld"].id, other))
    foreign = db.execute("SELECT id FROM batches WHERE submission_id = %s", (other,)).fetchone()["id"]
    with pytest.raises(psycopg.errors.CheckViolation, match="whose row range does not hold it"), db.transaction():
        db.execute("UPDATE messages SET batch_id = %s WHERE submission_id = %s AND row_number = 1", (foreign, sid))
    db.rollback()


def test_open_messages_are_counted_through_plan_send_results_and_close(tenants):
    db = tenants.db
    numbers = bsns(5, seed=265)
    tenants.subscribe("voorbeeld", numbers[:3])
    sid = tenants.submit("voorbeeld", "PASPRT", rows_for(numbers))
    assert _open(db, sid) == 5  # COPY: all planned
    planned = plan.plan_run("run-265", max_map_length=1024, url=tenants.url, day=DAY)
    assert _open(db, sid) == _open_counted(db, sid) == 3  # two not subscribed
    (batch_1,) = send_all(db, planned)
    assert _open(db, sid) == 3  # queued → sent: still open
    assert result_files.closable_submissions(db, submission_ids=[sid]) == []
    by_bsn = message_ids(db, sid)
    record_results(db, c_id := tenants.connections["voorbeeld"].id, batch_1,
                   [(by_bsn[b], "Verwerkt") for b in numbers[:2]], ebms_id="part")
    assert _open(db, sid) == _open_counted(db, sid) == 1
    assert result_files.closable_submissions(db, submission_ids=[sid]) == []
    record_results(db, c_id, batch_1, [(by_bsn[numbers[2]], "Verwerkt")], ebms_id="rest")
    assert _open(db, sid) == 0
    assert result_files.closable_submissions(db, submission_ids=[sid]) == [sid]
    db.commit()


def test_the_sweep_finds_stuck_messages_through_their_batch(tenants):
    db = tenants.db
    c, numbers, sid, (batch_1,) = sent_submission(tenants, 3, seed=266)
    by_bsn = message_ids(db, sid)
    record_results(db, c.id, batch_1, [(by_bsn[numbers[0]], "Verwerkt")])
    assert sweep_store.stuck_submissions(db, stuck_minutes=60) == []  # sent just now
    db.execute("UPDATE messages SET sent_at = now() - interval '2 hours' WHERE submission_id = %s", (sid,))
    db.execute("UPDATE batches SET sent_at = now() - interval '2 hours' WHERE id = %s", (batch_1,))
    stuck = sweep_store.stuck_submissions(db, stuck_minutes=60)
    assert [(r["submission_id"], r["stuck"]) for r in stuck] == [(sid, 2)]  # the delivered one is not stuck
    assert len(sweep_store.stuck_messages(db, sid, stuck_minutes=60)) == 2
    db.rollback()
