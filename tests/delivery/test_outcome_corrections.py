"""Delivery evidence wins (issue 10 item 1), through the real ``record_result`` path in
PostgreSQL: a message made final ``failed`` (TechnischProbleem on its last allowed
attempt) that a later result of the same BerichtID reports ``Verwerkt`` becomes
delivered; a closed submission gets a corrected result file (v2) and paper list, and an
audit entry. Results written by hand (the e2e with the simulator's faults is in
test_delivery_e2e.py and bench/bench_soak.py)."""

from __future__ import annotations

import csv
import io

from delivery_helpers import (
    DAY,
    bsns,
    message_ids,
    record_results,
    sent_submission,
)

from bbx.delivery import outbox, plan, results
from bbx.domain import delivery as rules
from bbx.store import batches as batch_store
from bbx.store import result_files as result_file_store


def _read(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig")), delimiter=";"))


def test_late_verwerkt_corrects_a_failed_message_and_reissues_the_result_files(tenants, tmp_path):
    db = tenants.db
    c, numbers, sid, (batch_id,) = sent_submission(tenants, 3, seed=61)
    by_bsn = message_ids(db, sid)
    lost, ok, refused = numbers
    # the first processing of the batch: TechnischProbleem on the last allowed attempt
    first = record_results(db, c.id, batch_id, [(by_bsn[lost], "TechnischProbleem"), (by_bsn[ok], "Verwerkt"),
                                         (by_bsn[refused], "BijlageTeGroot")], ebms_id="first", max_attempts=1)
    assert first.applied == {"failed": 2, "delivered": 1}
    assert tenants.outcomes(sid)[lost] == ("failed", "TechnischProbleem")
    summary = results.CollectSummary()
    results.close_reconciled(db, summary, connection_id=c.id)
    writer = outbox.folder_writer(tmp_path)
    results.write_reports(db, writer, summary, connection_id=c.id)
    assert tenants.status(sid) == "closed"
    out = tmp_path / c.sftp_folder.lstrip("/") / "outbox"
    drop = db.execute("SELECT name FROM sftp_drops WHERE submission_id = %s", (sid,)).fetchone()["name"]
    v1_results, v1_paper = rules.result_file_names(sid, "sftp", drop)
    assert {r["bsn"] for r in _read(out / v1_paper)} == {lost, refused}

    # the answer to sendMessage was lost after MijnOverheid processed the batch; BBX sent
    # the same batch again and this second result says Verwerkt for the same BerichtID
    second = record_results(db, c.id, batch_id, [(by_bsn[lost], "Verwerkt"), (by_bsn[ok], "BerichtBestaatAl"),
                                          (by_bsn[refused], "BijlageTeGroot")], ebms_id="second", max_attempts=1)
    assert second.corrected == 1 and second.applied == {"delivered": 1}
    assert tenants.outcomes(sid)[lost] == ("delivered", "Verwerkt")
    assert tenants.outcomes(sid)[refused] == ("failed", "BijlageTeGroot")  # a failure never wins
    assert tenants.status(sid) == "closed"
    audit = db.execute("SELECT details FROM audit_log WHERE action = 'submission.outcome_corrected' "
                       "AND submission_id = %s", (sid,)).fetchone()
    assert audit["details"]["failed_to_delivered"] == 1 and audit["details"]["new_result_file"] is True
    assert audit["details"]["bericht_ids"] == [by_bsn[lost]]

    summary = results.CollectSummary()
    results.write_reports(db, writer, summary, connection_id=c.id)
    assert summary.reported == [sid]
    v2_results, v2_paper = rules.result_file_names(sid, "sftp", drop, version=2)
    assert v2_results.endswith(".results-v2.csv") and v2_paper.endswith(".undeliverable-v2.csv")
    rows = {r["bsn"]: r for r in _read(out / v2_results)}
    assert rows[lost]["outcome"] == "delivered"
    assert "eerder gemeld als mislukt (TechnischProbleem)" in rows[lost][rules.correction_column()]
    assert rows[ok][rules.correction_column()] == "" and rows[refused][rules.correction_column()] == ""
    assert {r["bsn"] for r in _read(out / v2_paper)} == {refused}  # the paper list re-issued
    assert (out / v1_results).exists()  # the first version stays as the tenant got it
    assert db.execute("SELECT results_version FROM submissions WHERE id = %s", (sid,)).fetchone()[
        "results_version"] == 2
    # told once: nothing more to write, and a third copy of the result changes nothing
    assert not result_file_store.unreported_submissions(db, connection_id=c.id)
    third = record_results(db, c.id, batch_id, [(by_bsn[lost], "Verwerkt")], ebms_id="third", max_attempts=1)
    assert third.corrected == 0 and third.ignored == 1

    # retention removes every version (they all hold BSNs)
    db.execute("UPDATE submissions SET results_written_at = now() - interval '400 days' WHERE id = %s", (sid,))
    db.commit()

    def remove(sub, names):
        gone = [out / n for n in names if (out / n).exists()]
        for path in gone:
            path.unlink()
        return [str(g) for g in gone]

    assert results.purge_expired_result_files(remover=remove, url=tenants.url) == [sid]
    assert sorted(p.name for p in out.glob(f"*.s{sid}.*.csv")) == []


def test_late_verwerkt_from_an_earlier_batch_wins_over_a_later_failure(tenants):
    """TechnischProbleem moved the message to a resend batch; the Verwerkt of the first
    batch (its answer had been lost) arrives next: delivered, and the unsent resend
    batch is closed instead of sent empty; the resend's failure then changes nothing."""
    db = tenants.db
    c, numbers, sid, (batch_1,) = sent_submission(tenants, 1, seed=62)
    message = message_ids(db, sid)[numbers[0]]
    first = record_results(db, c.id, batch_1, [(message, "TechnischProbleem")], ebms_id="tp", max_attempts=3)
    assert first.resent == 1
    late = record_results(db, c.id, batch_1, [(message, "Verwerkt")], ebms_id="late", max_attempts=3)
    assert late.applied == {"delivered": 1}
    assert tenants.outcomes(sid)[numbers[0]] == ("delivered", "Verwerkt")
    resend = batch_store.batch(db, first.resend_batch)
    assert resend["status"] == "failed" and "delivered by an earlier send" in resend["last_error"]
    assert batch_store.pending_resend_batches(db, c.id) == []
    again = record_results(db, c.id, first.resend_batch, [(message, "TechnischProbleem")], ebms_id="tp2", max_attempts=3)
    assert again.ignored == 1 and tenants.outcomes(sid)[numbers[0]] == ("delivered", "Verwerkt")


def test_late_verwerkt_after_an_operator_planned_the_message_again(tenants):
    db = tenants.db
    c, numbers, sid, (batch_1,) = sent_submission(tenants, 1, seed=63)
    message = message_ids(db, sid)[numbers[0]]
    record_results(db, c.id, batch_1, [(message, "TechnischProbleem")], ebms_id="tp", max_attempts=1)
    plan.plan_redelivery("redo", sid, include_failed=True, failed_codes=None, include_stuck=False,
                         stuck_minutes=0, actor="op", max_map_length=1024, url=tenants.url, day=DAY)
    assert tenants.outcomes(sid)[numbers[0]][0] in ("planned", "queued")
    record_results(db, c.id, batch_1, [(message, "Verwerkt")], ebms_id="late", max_attempts=1)
    assert tenants.outcomes(sid)[numbers[0]] == ("delivered", "Verwerkt")


def test_answer_lost_after_processing_on_the_last_attempt_ends_delivered_e2e(world, monkeypatch):
    """The issue's scenario against the simulator over mTLS, with its fault injection:
    the only allowed attempt of a message gets TechnischProbleem, the answer to the
    sendMessage is lost after MijnOverheid processed the batch, the hook sends the same
    BatchID again and MijnOverheid now puts the message in the box (Verwerkt). BBX reads
    the TechnischProbleem result first (final: failed), then the Verwerkt: delivered, as
    in the citizen's box — not on the paper list."""
    import time

    from delivery_helpers import assert_exactly_once, read_csv, rows_for

    from bbx.delivery import send

    started = time.time() - 1
    monkeypatch.setenv("BBX_HOOK_BACKOFF", "0.01")
    numbers = bsns(3, seed=64)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers))
    world.sim.admin.set_faults(next_technisch_probleem=1, next_drop_after_processing=1)
    planned = plan.plan_run("lost-answer", max_map_length=1024, url=world.url)
    for s in planned["slices"]:
        send.send_batches(s["batch_ids"], url=world.url)
    injected = world.sim.admin.faults()["injected"]
    assert injected["technisch_probleem"] == 1 and injected["drop_after_processing"] == 1
    deadline = time.monotonic() + 60
    corrected = 0
    while time.monotonic() < deadline:
        summary = results.collect(submission_ids=[sid], url=world.url, max_attempts=1)
        corrected += summary.outcomes.get("delivered", 0)
        if world.status(sid) == "closed" and world.sim.admin.stats()["inbound_unprocessed"] == 0:
            break
        time.sleep(0.2)
    assert world.counts(sid)["delivered"] == 3, world.outcomes(sid)
    assert assert_exactly_once(world, [sid]) == 3
    fixed = world.db.execute("SELECT from_code, to_code FROM outcome_corrections WHERE submission_id = %s",
                             (sid,)).fetchall()
    world.db.commit()
    assert [(r["from_code"], r["to_code"]) for r in fixed] == [("TechnischProbleem", "Verwerkt")]
    # the newest paper list a tenant would print (v1, or v2 when the submission had closed
    # between the two results): empty
    import re as _re

    # (files this test wrote: the session's SFTP root holds other tests' outboxes too)
    paper = {int(m.group(1) or 1): f for f in world.outbox("voorbeeld").glob(f"drop_{sid}.s{sid}.undeliverable*.csv")
             if f.stat().st_mtime >= started and (m := _re.search(r"undeliverable(?:-v(\d+))?\.csv$", f.name))}
    assert paper and read_csv(paper[max(paper)]) == []
