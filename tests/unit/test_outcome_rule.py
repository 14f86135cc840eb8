"""The outcome rule for one result line (``classify_line``: delivery evidence wins) and the
reading of one batch's codes against its counters (``read_batch``: the live dialect's
``00``). Pure functions; the store applies them (tests/delivery/test_outcome_corrections.py)."""

from __future__ import annotations

import pytest

from bbx.domain.outcomes import (
    DELIVERY_EVIDENCE,
    FINAL_OUTCOMES,
    TECHNISCH_PROBLEEM,
    UNDELIVERABLE,
    VERWERKINGSCODES,
    LineAction,
    Outcome,
    can_transition,
    classify_line,
    read_batch,
)

OPEN = ("planned", "queued", "sent")


def line(code, current, *, in_this_batch=True, seen=False, attempt=1, max_attempts=3, unknown_is_delivered=False):
    return classify_line(code, current=current, in_this_batch=in_this_batch, seen_in_result=seen,
                         attempt=attempt, max_attempts=max_attempts, unknown_is_delivered=unknown_is_delivered)


def test_delivery_evidence_is_exactly_the_delivered_codes():
    assert DELIVERY_EVIDENCE == {"Verwerkt", "BerichtBestaatAl"}


@pytest.mark.parametrize("code", sorted(DELIVERY_EVIDENCE))
def test_delivery_evidence_corrects_a_failed_message(code):
    """Issue 10 item 1: TechnischProbleem on the last attempt made it failed; the
    Verwerkt of the same BerichtID that comes after must win."""
    verdict = line(code, "failed", attempt=3)
    assert verdict.action is LineAction.CORRECT
    assert verdict.outcome is Outcome.DELIVERED


@pytest.mark.parametrize("code", sorted(DELIVERY_EVIDENCE))
@pytest.mark.parametrize("current", ["queued", "sent"])
def test_delivery_evidence_from_an_earlier_batch_still_delivers(code, current):
    """The message moved on to a resend batch; the evidence of the earlier send counts."""
    verdict = line(code, current, in_this_batch=False)
    assert verdict.action is LineAction.FINAL and verdict.outcome is Outcome.DELIVERED


def test_delivery_evidence_for_a_message_planned_again_delivers():
    assert line("Verwerkt", "planned", in_this_batch=False).outcome is Outcome.DELIVERED


def test_delivery_evidence_for_a_delivered_message_is_a_duplicate():
    assert line("BerichtBestaatAl", "delivered").action is LineAction.IGNORE


@pytest.mark.parametrize("current", ["not_subscribed", "rejected"])
def test_delivery_evidence_against_another_final_outcome_is_left_for_an_operator(current):
    verdict = line("Verwerkt", current)
    assert verdict.action is LineAction.IGNORE
    assert verdict.doubt and current in verdict.doubt


@pytest.mark.parametrize("code", [c for c in VERWERKINGSCODES if c not in DELIVERY_EVIDENCE] + ["00", ""])
@pytest.mark.parametrize("current", sorted(o.value for o in FINAL_OUTCOMES))
def test_a_failure_never_changes_a_final_outcome(code, current):
    """Failures do not win over anything final — least of all over delivered."""
    assert line(code, current).action is LineAction.IGNORE


@pytest.mark.parametrize("current", ["queued", "sent"])
def test_a_failure_for_a_message_that_moved_on_is_stale(current):
    assert line(TECHNISCH_PROBLEEM, current, in_this_batch=False).action is LineAction.IGNORE
    assert line("BijlageTeGroot", current, in_this_batch=False).action is LineAction.IGNORE


def test_technisch_probleem_retries_then_fails_with_exhausted_retries():
    assert line(TECHNISCH_PROBLEEM, "sent", attempt=1, max_attempts=2).action is LineAction.RETRY
    last = line(TECHNISCH_PROBLEEM, "sent", attempt=2, max_attempts=2)
    assert last.action is LineAction.FINAL and last.outcome is Outcome.FAILED
    assert last.decision.retries_exhausted and last.decision.needs_attention


def test_repeated_and_unknown_bericht_ids_are_ignored():
    assert line("Verwerkt", "sent", seen=True).action is LineAction.IGNORE
    assert line("Verwerkt", None).action is LineAction.IGNORE


@pytest.mark.parametrize("current", OPEN + tuple(o.value for o in FINAL_OUTCOMES))
@pytest.mark.parametrize("code", list(VERWERKINGSCODES) + ["00"])
@pytest.mark.parametrize("in_this_batch", [True, False])
def test_every_verdict_is_a_move_the_machine_allows(current, code, in_this_batch):
    verdict = line(code, current, in_this_batch=in_this_batch, attempt=3)
    if verdict.action in (LineAction.FINAL, LineAction.CORRECT):
        assert can_transition(current, verdict.outcome)
    if verdict.action is LineAction.RETRY:
        assert can_transition(current, Outcome.QUEUED)


# --------------------------------------------------------------------------- one batch's counters


def counters(total, succeeded, *, not_subscribed=0, technical=0, type_=0, publication=0, creation=0):
    return {"total_received": total, "succeeded": succeeded, "not_subscribed": not_subscribed,
            "technical_problem": technical, "message_type_incorrect": type_,
            "publication_date_incorrect": publication, "creation_date_incorrect": creation}


def test_documented_dialect_needs_no_reading():
    reading = read_batch(["Verwerkt", "BerichtBestaatAl", "TechnischProbleem"], counters(3, 2, technical=1))
    assert not reading.unknown_is_delivered and reading.problems == ()


def test_live_dialect_all_00_accounted_for_by_the_counters_is_delivered():
    reading = read_batch(["00"] * 5, counters(5, 5))
    assert reading.unknown_is_delivered and reading.problems == ()
    assert line("00", "sent", unknown_is_delivered=True).outcome is Outcome.DELIVERED


def test_live_dialect_mixed_batch_accounted_for():
    codes = ["00", "00", "NietActiefOfGeabonneerd", "TechnischProbleem", "Verwerkt"]
    assert read_batch(codes, counters(5, 3, not_subscribed=1, technical=1)).unknown_is_delivered


def test_live_dialect_with_bericht_bestaat_al_counted_either_way():
    """The soak found it: the simulator counts only Verwerkt/00 in AantalBerichtenSuccesvolVerwerkt,
    BBX expected BerichtBestaatAl in it too, and failed delivered letters. Both readings hold."""
    codes = ["00", "00", "00", "BerichtBestaatAl", "TechnischProbleem"]
    assert read_batch(codes, counters(5, 3, technical=1)).unknown_is_delivered  # the simulator's reading
    assert read_batch(codes, counters(5, 4, technical=1)).unknown_is_delivered  # BestaatAl counted


def test_live_dialect_ambiguous_counter_is_failed_for_an_operator():
    # 2 × 00 and 2 × BerichtBestaatAl with succeeded 2: "00 is a success, BestaatAl not counted"
    # or "00 is an uncounted failure, BestaatAl counted" — never silently delivered
    reading = read_batch(["00", "00", "BerichtBestaatAl", "BerichtBestaatAl"], counters(4, 2))
    assert not reading.unknown_is_delivered and "ambiguous" in reading.problems[0]


@pytest.mark.parametrize(
    ("codes", "given", "why"),
    [
        (["00"] * 5, counters(5, 4), "succeeded is 4, expected 5"),  # one 00 is not a success
        (["00"] * 5, counters(5, None), "succeeded is None"),  # counter missing
        (["00"] * 5, counters(6, 5), "TotaalAantalOntvangenBerichten is 6"),
        (["00", "00", "TechnischProbleem"], counters(3, 3), "technical_problem is 0, expected 1"),
        (["00", "01"], counters(2, 2), "more than one unknown code"),
        (["00", "NietActiefOfGeabonneerd"], counters(2, 2), "not_subscribed is 0, expected 1"),
    ],
)
def test_counters_that_do_not_add_up_fail_the_unknown_codes_with_attention(codes, given, why):
    reading = read_batch(codes, given)
    assert not reading.unknown_is_delivered
    assert len(reading.problems) == 1 and why in reading.problems[0]
    verdict = line("00", "sent", unknown_is_delivered=reading.unknown_is_delivered)
    assert verdict.outcome is Outcome.FAILED and verdict.decision.needs_attention


def test_accounted_unknown_code_is_delivery_evidence_too():
    """A live-dialect 00 that the counters account for corrects a failed message as well."""
    assert line("00", "failed", unknown_is_delivered=True).action is LineAction.CORRECT
    assert line("00", "failed").action is LineAction.IGNORE


def test_undeliverable_is_not_subscribed_and_failed_never_rejected():
    assert UNDELIVERABLE == (Outcome.NOT_SUBSCRIBED, Outcome.FAILED)
    assert Outcome.REJECTED not in UNDELIVERABLE and Outcome.DELIVERED not in UNDELIVERABLE
