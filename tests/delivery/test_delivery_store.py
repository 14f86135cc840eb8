"""Planning and recording in PostgreSQL (bbx.store.batches and .results, bbx.delivery.plan), with
results written by hand: every VerwerkingsCode, unknown codes, duplicates, unknown
batches, TechnischProbleem resends, redelivery. No simulator needed here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

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
from bbx.domain import ids
from bbx.store import batches as batch_store
from bbx.store import register, submissions

# --------------------------------------------------------------------------- planning


def test_register_decision_on_the_send_date(tenants):
    active, ended_today, ends_tomorrow, starts_tomorrow, never = bsns(5, seed=21)
    tenants.subscribe("voorbeeld", [active])
    tenants.subscribe("voorbeeld", [ended_today], begin=date(2025, 1, 1), end=DAY)
    tenants.subscribe("voorbeeld", [ends_tomorrow], begin=date(2025, 1, 1), end=DAY + timedelta(days=1))
    tenants.subscribe("voorbeeld", [starts_tomorrow], begin=DAY + timedelta(days=1))
    sid, planned = planned_submission(tenants, [active, ended_today, ends_tomorrow, starts_tomorrow, never])
    outcomes = tenants.outcomes(sid)
    assert outcomes[active] == ("queued", None)
    assert outcomes[ends_tomorrow] == ("queued", None)
    for b in (ended_today, starts_tomorrow, never):
        assert outcomes[b] == ("not_subscribed", "NotInRegister")
    reason = tenants.db.execute(
        "SELECT outcome_reason FROM messages WHERE bsn = %s", (never,)).fetchone()["outcome_reason"]
    assert "2026-03-02" in reason and "paper" in reason
    assert planned["submissions"] == [sid]
    assert len(planned["slices"]) == 1


def test_batches_of_at_most_1000_with_deterministic_ids_and_reruns(tenants):
    numbers = bsns(2500, seed=22)
    tenants.subscribe("voorbeeld", numbers)
    sid, planned = planned_submission(tenants, numbers)
    batch_ids = [b for s in planned["slices"] for b in s["batch_ids"]]
    assert batch_ids == [ids.batch_id("voorbeeld", sid, n) for n in (1, 2, 3)]
    sizes = tenants.db.execute("SELECT message_count FROM batches WHERE submission_id = %s ORDER BY batch_number",
                               (sid,)).fetchall()
    assert [r["message_count"] for r in sizes] == [1000, 1000, 500]
    # the rows keep their order across batches
    first = tenants.db.execute(
        """SELECT min(m.row_number) AS lo, max(m.row_number) AS hi FROM messages m
           WHERE m.batch_id = %s""", (batch_ids[1],)).fetchone()
    assert (first["lo"], first["hi"]) == (1001, 2000)
    tenants.db.commit()

    # a rerun of the same run: the same slices, nothing planned twice
    again = plan.plan_run("run-1", max_map_length=1024, url=tenants.url, day=DAY)
    assert again["slices"] == planned["slices"]
    # another run takes nothing (the submission is already being delivered)
    other = plan.plan_run("run-2", max_map_length=1024, url=tenants.url, day=DAY)
    assert other == {"submissions": [], "slices": [], "held": [], "reviews": []}
    # after one batch is acknowledged, a rerun's slices hold only the other two
    batch_store.mark_sent(tenants.db, batch_ids[0], ebms_message_id="e1", size_bytes=10)
    tenants.db.commit()
    rerun = plan.plan_run("run-1", max_map_length=1024, url=tenants.url, day=DAY)
    assert [b for s in rerun["slices"] for b in s["batch_ids"]] == batch_ids[1:]
    assert tenants.counts(sid) == {**tenants.counts(sid), "sent": 1000, "queued": 1500}


def test_stale_register_holds_bulk_sends_but_not_manual_ones(tenants):
    db = tenants.db
    c = tenants.connections["voorbeeld"]
    numbers = bsns(3, seed=23)
    tenants.subscribe("voorbeeld", numbers)
    db.execute("UPDATE register_refreshes SET applied_at = now() - interval '5 days' WHERE connection_id = %s",
               (c.id,))
    db.commit()
    bulk = tenants.submit("voorbeeld", "PASPRT", rows_for(numbers))
    manual = tenants.submit("voorbeeld", "PASPRT", rows_for(numbers[:1]), channel="manual")
    planned = plan.plan_run("run-1", max_map_length=1024, url=tenants.url, day=DAY)
    assert planned["submissions"] == [manual]
    assert [h["submission"] for h in planned["held"]] == [bulk]
    assert tenants.status(bulk) == "accepted"
    assert planned["held"][0]["kinds"] == ["stale_register"]
    # the hold becomes one request for a person (a bbx_review run), with its reason
    (review,) = planned["reviews"]
    assert review["trigger_run_id"].startswith("review__") and review["conf"]["submission_id"] == bulk
    assert "is stale" in review["conf"]["body"] and "bbx register acknowledge voorbeeld" in review["conf"]["body"]
    held = db.execute("SELECT count(*) AS n FROM audit_log WHERE action = 'delivery.held'").fetchone()["n"]
    again = plan.plan_run("run-2", max_map_length=1024, url=tenants.url, day=DAY)
    assert db.execute("SELECT count(*) AS n FROM audit_log WHERE action = 'delivery.held'").fetchone()["n"] == held
    assert [h["submission"] for h in again["held"]] == [bulk] and again["reviews"] == []  # asked once

    # the CLI's acknowledgement is the second way in; the open review is withdrawn
    register.acknowledge_stale(db, c.id, by="operator", reason="refresh service down, sending anyway")
    db.commit()
    later = plan.plan_run("run-3", max_map_length=1024, url=tenants.url, day=DAY)
    assert later["submissions"] == [bulk] and later["held"] == []
    decided = db.execute("SELECT decision, decided_by FROM submission_reviews WHERE submission_id = %s",
                         (bulk,)).fetchall()
    db.commit()
    assert decided == [{"decision": "withdrawn", "decided_by": "bbx-delivery"}]


def test_a_deactivated_connection_holds_every_channel_until_reactivated(tenants):
    db = tenants.db
    numbers = bsns(2, seed=41)
    tenants.subscribe("voorbeeld", numbers)
    api = tenants.submit("voorbeeld", "PASPRT", rows_for(numbers), channel="api")
    db.execute("UPDATE connections SET active = false WHERE code = 'voorbeeld'")
    db.commit()
    planned = plan.plan_run("run-1", max_map_length=1024, url=tenants.url, day=DAY)
    assert planned["submissions"] == [] and [h["submission"] for h in planned["held"]] == [api]
    assert "connection voorbeeld is deactivated" in planned["held"][0]["reason"]
    assert [r["conf"]["kind"] for r in planned["reviews"]] == ["inactive_connection"]
    assert tenants.status(api) == "accepted"

    db.execute("UPDATE connections SET active = true WHERE code = 'voorbeeld'")
    db.commit()
    later = plan.plan_run("run-2", max_map_length=1024, url=tenants.url, day=DAY)
    assert later["submissions"] == [api] and later["held"] == []


def test_a_submission_with_nothing_to_send_closes_at_once(tenants):
    numbers = bsns(2, seed=24)
    rows = rows_for(numbers) + [submissions.NewRow(row_number=3, bsn=None, rejection="BSN is empty")]
    sid = tenants.submit("voorbeeld", "PASPRT", rows)
    planned = plan.plan_run("run-1", max_map_length=1024, url=tenants.url, day=DAY)
    assert planned["slices"] == []
    assert tenants.status(sid) == "closed"
    assert tenants.counts(sid)["not_subscribed"] == 2 and tenants.counts(sid)["rejected"] == 1


# --------------------------------------------------------------------------- results


CODES = {
    "Verwerkt": ("delivered", "Verwerkt"),
    "BerichtBestaatAl": ("delivered", "BerichtBestaatAl"),
    "NietActiefOfGeabonneerd": ("not_subscribed", "NietActiefOfGeabonneerd"),
    "BerichtTypeNietOndersteund": ("failed", "BerichtTypeNietOndersteund"),
    "PublicatieDatumLigtTeVerInDeToekomst": ("failed", "PublicatieDatumLigtTeVerInDeToekomst"),
    "AanmaakDatumLigtTeVerInHetVerleden": ("failed", "AanmaakDatumLigtTeVerInHetVerleden"),
    "BijlageTeGroot": ("failed", "BijlageTeGroot"),
    "OinInCPAKomtNietOvereenMetOinInBericht": ("failed", "OinInCPAKomtNietOvereenMetOinInBericht"),
    "XmlValidatieTegenXsdValtNegatiefUit": ("failed", "XmlValidatieTegenXsdValtNegatiefUit"),
    "00": ("failed", "00"),
}


def test_every_code_maps_to_its_outcome(tenants):
    db = tenants.db
    c, numbers, sid, (batch_id,) = sent_submission(tenants, len(CODES), seed=25)
    by_bsn = message_ids(db, sid)
    lines = [(by_bsn[b], code) for b, code in zip(numbers, CODES, strict=True)]
    summary = record_results(db, c.id, batch_id, lines)
    assert summary.known_batch and not summary.already_recorded and summary.resent == 0
    outcomes = tenants.outcomes(sid)
    for b, code in zip(numbers, CODES, strict=True):
        assert outcomes[b] == CODES[code], code
    # NietActiefOfGeabonneerd: the register held the BSN subscribed: a doubt for operators
    doubts = register.open_doubts(db, c.id)
    assert [d["bsn"] for d in doubts] == [numbers[2]]
    # an unknown code is failed AND alerted (audit) — never assumed delivered
    assert any("unknown VerwerkingsCode" in p for p in summary.attention)
    alert = db.execute("SELECT details FROM audit_log WHERE action = 'delivery.attention'").fetchone()
    assert alert["details"]["unknown_codes"] == {"00": 1}
    assert tenants.status(sid) == "delivering"
    from bbx.delivery import results

    collected = results.CollectSummary()
    results.close_reconciled(db, collected, connection_id=c.id)
    assert collected.closed == [sid] and tenants.status(sid) == "closed"


def test_duplicates_and_unknown_batches_are_harmless(tenants):
    db = tenants.db
    c, numbers, sid, (batch_id,) = sent_submission(tenants, 3, seed=26)
    by_bsn = message_ids(db, sid)
    lines = [(by_bsn[b], "Verwerkt") for b in numbers]
    first = record_results(db, c.id, batch_id, lines, ebms_id="result-1")
    assert first.applied == {"delivered": 3}
    # the same ebMS message again (crash before processMessage): recognised, nothing applied
    assert record_results(db, c.id, batch_id, lines, ebms_id="result-1").already_recorded
    # a duplicate result under a new ebMS id, with other codes: ignored, outcomes stay
    dup = record_results(db, c.id, batch_id, [(m, "TechnischProbleem") for m, _ in lines], ebms_id="result-2")
    assert dup.ignored == 3 and not dup.applied and dup.resent == 0
    # a result for a batch nobody sent, and for another connection's batch
    stranger = record_results(db, c.id, "6a7b1e5c-0000-4000-8000-000000000000", lines, ebms_id="result-3")
    assert not stranger.known_batch
    other = tenants.connections["pf_metaal"]
    assert not record_results(db, other.id, batch_id, lines, ebms_id="result-4").known_batch
    # a line repeated within one result counts once
    assert tenants.counts(sid)["delivered"] == 3
    assert db.execute("SELECT count(*) AS n FROM delivery_results").fetchone()["n"] == 4


def test_technisch_probleem_is_resent_with_the_same_bericht_ids_then_fails(tenants):
    db = tenants.db
    c, numbers, sid, (batch_1,) = sent_submission(tenants, 4, seed=27)
    by_bsn = message_ids(db, sid)
    lines = [(by_bsn[numbers[0]], "Verwerkt")] + [(by_bsn[b], "TechnischProbleem") for b in numbers[1:]]
    summary = record_results(db, c.id, batch_1, lines, max_attempts=2)
    assert summary.resent == 3 and summary.resend_batch == ids.batch_id("voorbeeld", sid, 2)
    resend = batch_store.batch(db, summary.resend_batch)
    assert (resend["kind"], resend["status"], resend["message_count"]) == ("resend", "planned", 3)
    assert batch_store.pending_resend_batches(db, c.id) == [summary.resend_batch]
    moved = db.execute("SELECT message_id::text AS m, send_attempts FROM messages WHERE batch_id = %s",
                       (summary.resend_batch,)).fetchall()
    assert {r["m"] for r in moved} == {by_bsn[b] for b in numbers[1:]}  # same BerichtIDs
    assert {r["send_attempts"] for r in moved} == {2}
    db.commit()
    # second attempt: one delivered, one BerichtBestaatAl, one TechnischProbleem again -> failed (limit 2)
    batch_store.mark_sent(db, summary.resend_batch, ebms_message_id="e2", size_bytes=1)
    db.commit()
    second = record_results(db, c.id, summary.resend_batch, [
        (by_bsn[numbers[1]], "Verwerkt"), (by_bsn[numbers[2]], "BerichtBestaatAl"),
        (by_bsn[numbers[3]], "TechnischProbleem")], max_attempts=2)
    assert second.resent == 0 and any("after 2 attempts" in p for p in second.attention)
    outcomes = tenants.outcomes(sid)
    assert [outcomes[b][0] for b in numbers] == ["delivered", "delivered", "delivered", "failed"]
    # a late copy of the FIRST result changes nothing: its messages moved on
    late = record_results(db, c.id, batch_1, lines, ebms_id="late-copy", max_attempts=2)
    assert late.ignored == 4 and late.resent == 0 and not late.applied


def test_a_result_before_the_send_was_recorded(tenants):
    """The adapter may deliver the result before BBX committed 'sent' (fast results)."""
    db = tenants.db
    c = tenants.connections["voorbeeld"]
    numbers = bsns(2, seed=28)
    tenants.subscribe("voorbeeld", numbers)
    sid, planned = planned_submission(tenants, numbers)
    batch_id = planned["slices"][0]["batch_ids"][0]
    by_bsn = message_ids(db, sid)
    record_results(db, c.id, batch_id, [(by_bsn[b], "Verwerkt") for b in numbers])
    assert batch_store.mark_sent(db, batch_id, ebms_message_id="late-ack", size_bytes=5) == 0
    db.commit()
    assert batch_store.batch(db, batch_id)["status"] == "result_received"
    assert tenants.counts(sid)["delivered"] == 2


# --------------------------------------------------------------------------- redelivery


def test_redelivery_of_failed_and_stuck_messages(tenants):
    db = tenants.db
    c, numbers, sid, (batch_1,) = sent_submission(tenants, 6, seed=29)
    by_bsn = message_ids(db, sid)
    record_results(db, c.id, batch_1, [(by_bsn[numbers[0]], "Verwerkt"), (by_bsn[numbers[1]], "TechnischProbleem"),
                                (by_bsn[numbers[2]], "BerichtTypeNietOndersteund")], max_attempts=1)
    # numbers[3:] got no result at all: stuck in 'sent'
    db.execute("UPDATE messages SET sent_at = now() - interval '5 hours' WHERE outcome = 'sent'")
    db.commit()
    with pytest.raises(ValueError, match="only a submission that was delivered"):
        other = tenants.submit("voorbeeld", "PASPRT", rows_for(bsns(1, seed=30)))
        plan.plan_redelivery("redo-0", other, include_failed=True, failed_codes=None, include_stuck=False,
                             stuck_minutes=0, actor="op", max_map_length=1024, url=tenants.url, day=DAY)

    redo = plan.plan_redelivery("redo-1", sid, include_failed=True, failed_codes=["TechnischProbleem"],
                                include_stuck=True, stuck_minutes=60, actor="op", max_map_length=1024,
                                url=tenants.url, day=DAY)
    assert redo["summary"]["failed_replanned"] == 1 and redo["summary"]["stuck_resent"] == 3
    new_batches = [b for s in redo["slices"] for b in s["batch_ids"]]
    assert len(new_batches) == 2 and batch_1 not in new_batches
    outcomes = tenants.outcomes(sid)
    assert outcomes[numbers[2]] == ("failed", "BerichtTypeNietOndersteund")  # not chosen: stays
    assert outcomes[numbers[1]][0] == "queued"
    moved = db.execute("SELECT message_id::text AS m FROM messages WHERE batch_id = ANY(%s::uuid[])",
                       (new_batches,)).fetchall()
    assert {r["m"] for r in moved} == {by_bsn[b] for b in [numbers[1], *numbers[3:]]}
    assert db.execute("SELECT count(*) AS n FROM audit_log WHERE action = 'submission.redelivery'"
                      ).fetchone()["n"] == 1
    db.commit()


def test_redelivery_skips_a_failed_row_that_was_handed_in_again(tenants):
    """Nothing twice: the tenant handed the failed citizen in again (new submission, new
    BerichtID); the operator's redelivery of the old submission must leave that one alone."""
    db = tenants.db
    c, numbers, sid, (batch_1,) = sent_submission(tenants, 2, seed=37)
    by_bsn = message_ids(db, sid)
    record_results(db, c.id, batch_1, [(by_bsn[numbers[0]], "TechnischProbleem"),
                                (by_bsn[numbers[1]], "TechnischProbleem")], max_attempts=1)
    db.commit()
    again = tenants.submit("voorbeeld", "PASPRT", rows_for([numbers[0]]))
    assert again != sid

    redo = plan.plan_redelivery("redo-3", sid, include_failed=True, failed_codes=None, include_stuck=False,
                                stuck_minutes=0, actor="op", max_map_length=1024, url=tenants.url, day=DAY)
    assert (redo["summary"]["failed_replanned"], redo["summary"]["failed_superseded"]) == (1, 1)
    outcomes = tenants.outcomes(sid)
    assert outcomes[numbers[0]] == ("failed", "TechnischProbleem")  # handed in again: stays failed
    assert outcomes[numbers[1]][0] == "queued"
    db.commit()


def test_redelivery_reopens_a_closed_submission(tenants):
    db = tenants.db
    c, numbers, sid, (batch_1,) = sent_submission(tenants, 2, seed=31)
    by_bsn = message_ids(db, sid)
    record_results(db, c.id, batch_1, [(by_bsn[numbers[0]], "Verwerkt"), (by_bsn[numbers[1]], "TechnischProbleem")],
            max_attempts=1)
    from bbx.delivery import results

    results.close_reconciled(db, results.CollectSummary(), connection_id=c.id)
    db.execute("UPDATE submissions SET results_written_at = now() WHERE id = %s", (sid,))
    db.commit()
    assert tenants.status(sid) == "closed"
    plan.plan_redelivery("redo-2", sid, include_failed=True, failed_codes=None, include_stuck=False,
                         stuck_minutes=0, actor="op", max_map_length=1024, url=tenants.url, day=DAY)
    row = db.execute("SELECT status, closed_at, results_written_at, delivery_run_id FROM submissions WHERE id = %s",
                     (sid,)).fetchone()
    assert (row["status"], row["closed_at"], row["results_written_at"], row["delivery_run_id"]) == (
        "delivering", None, None, "redo-2")
    assert datetime.now(UTC)  # (redelivery keeps the delivered message delivered)
    assert tenants.outcomes(sid)[numbers[0]] == ("delivered", "Verwerkt")


def test_operators_see_open_submissions_with_their_counts(tenants, capsys):
    from bbx import cli

    numbers = bsns(1500, seed=32)
    tenants.subscribe("voorbeeld", numbers[:1200])
    sid, planned = planned_submission(tenants, numbers)
    send_all(tenants.db, {"slices": [{"batch_ids": planned["slices"][0]["batch_ids"][:1]}]})
    assert cli.main(["delivery", "status"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith(str(sid)))
    assert line.split() == [str(sid), "voorbeeld", "sftp", "delivering", "1500", "0", "300", "0", "0", "0", "1200"]
    assert "batch 1 (" in out and "sent" in out and "batch 2 (" in out and "planned" in out
