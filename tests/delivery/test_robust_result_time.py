"""``submissions.results_written_at`` is the moment the result files were in the outbox
(after the upload), not the start of the transaction that uploaded them."""

from __future__ import annotations

from delivery_helpers import message_ids, record_results, sent_submission

from bbx.delivery import outbox, results


def test_results_written_at_is_after_the_files_are_in_the_outbox(tenants, tmp_path):
    db = tenants.db
    c, numbers, sid, (batch_id,) = sent_submission(tenants, 2, seed=71)
    by_bsn = message_ids(db, sid)
    record_results(db, c.id, batch_id, [(by_bsn[b], "Verwerkt") for b in numbers], ebms_id="r1", max_attempts=1)
    summary = results.CollectSummary()
    results.close_reconciled(db, summary, connection_id=c.id)
    folder = outbox.folder_writer(tmp_path)
    seen = {}

    def writer(submission, files):  # the real folder writer, with the database's clock around it
        seen["transaction_began"] = db.execute("SELECT now() AS t").fetchone()["t"]
        written = folder(submission, files)
        seen["in_outbox"] = db.execute("SELECT clock_timestamp() AS t").fetchone()["t"]
        return written

    results.write_reports(db, writer, summary, connection_id=c.id)
    assert summary.reported == [sid]
    row = db.execute("SELECT results_written_at, results_version FROM submissions WHERE id = %s",
                     (sid,)).fetchone()
    assert seen["transaction_began"] < seen["in_outbox"] <= row["results_written_at"]
    assert row["results_version"] == 1
    # exactly once: the next pass writes nothing again
    again = results.CollectSummary()
    results.write_reports(db, writer, again, connection_id=c.id)
    assert again.reported == []
