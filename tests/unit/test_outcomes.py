"""The message outcome state machine and the meaning of every VerwerkingsCode."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from bbx import schemas
from bbx.domain.outcomes import (
    CORRECTIONS,
    FINAL_OUTCOMES,
    TRANSITIONS,
    VERWERKINGSCODES,
    InvalidTransition,
    Outcome,
    can_transition,
    check_transition,
    decide,
    is_final,
    reconcile,
)

LOGIUS = (Path(__file__).parents[2] / "../shared/reference/logius").resolve()
XS = "{http://www.w3.org/2001/XMLSchema}"

PERMANENT_CODES = [
    "BerichtTypeNietOndersteund",
    "PublicatieDatumLigtTeVerInDeToekomst",
    "AanmaakDatumLigtTeVerInHetVerleden",
    "BijlageTeGroot",
    "OinInCPAKomtNietOvereenMetOinInBericht",
    "XmlValidatieTegenXsdValtNegatiefUit",
]


def enumerated_codes(xsd: Path) -> set[str]:
    tree = etree.parse(str(xsd))
    return {e.get("value") for e in tree.iter(f"{XS}enumeration")}


def test_final_outcome_names_are_exactly_the_outcome_rule():
    assert {o.value for o in FINAL_OUTCOMES} == {
        "rejected",
        "not_subscribed",
        "delivered",
        "failed",
        "cancelled",
    }
    assert {o.value for o in Outcome} - {o.value for o in FINAL_OUTCOMES} == {
        "planned",
        "queued",
        "sent",
    }


def test_every_code_of_bbx_schema_has_a_meaning():
    codes = enumerated_codes(schemas.schema_path("globe/GLOBEBatchResponseTypes.xsd"))
    assert codes == set(VERWERKINGSCODES)
    assert len(codes) == 10


def test_every_code_of_official_schema_has_a_meaning():
    xsd = LOGIUS / "BerichtVerwerkService/Response/GLOBEBatchResponseTypes.xsd"
    if not xsd.is_file():
        pytest.fail(f"official Logius schemas not found at {LOGIUS} (shared/ must lie beside the project)")
    assert enumerated_codes(xsd) == set(VERWERKINGSCODES)


# --------------------------------------------------------------------------- decisions


@pytest.mark.parametrize("code", ["Verwerkt", "BerichtBestaatAl"])
def test_delivered_codes(code):
    decision = decide(code, attempt=2, max_attempts=3)
    assert decision.outcome is Outcome.DELIVERED
    assert decision.final and not decision.retry and not decision.needs_attention
    assert not decision.register_stale


def test_not_subscribed_flags_the_register_as_stale():
    decision = decide("NietActiefOfGeabonneerd", attempt=1, max_attempts=3)
    assert decision.outcome is Outcome.NOT_SUBSCRIBED
    assert decision.register_stale is True
    assert decision.final and not decision.retry


def test_technical_problem_retries_up_to_the_limit_then_fails():
    first = decide("TechnischProbleem", attempt=1, max_attempts=3)
    second = decide("TechnischProbleem", attempt=2, max_attempts=3)
    last = decide("TechnischProbleem", attempt=3, max_attempts=3)

    assert (first.outcome, first.retry, first.final) == (Outcome.QUEUED, True, False)
    assert (second.outcome, second.retry) == (Outcome.QUEUED, True)
    assert (last.outcome, last.retry, last.needs_attention) == (Outcome.FAILED, False, True)
    assert last.code == "TechnischProbleem"
    assert "3 attempts" in last.explanation
    # A retry is a legal move from "sent".
    assert can_transition(Outcome.SENT, first.outcome)


def test_no_retry_when_a_single_attempt_is_allowed():
    assert decide("TechnischProbleem", attempt=1, max_attempts=1).outcome is Outcome.FAILED


@pytest.mark.parametrize("code", PERMANENT_CODES)
def test_permanent_codes_fail_with_their_code(code):
    decision = decide(code, attempt=1, max_attempts=5)
    assert decision.outcome is Outcome.FAILED
    assert decision.code == code
    assert not decision.retry and not decision.register_stale
    assert decision.explanation == VERWERKINGSCODES[code].explanation


@pytest.mark.parametrize("code", ["00", "", "verwerkt", "Onbekend"])
def test_unknown_codes_fail_and_need_attention_never_delivered(code):
    decision = decide(code, attempt=1, max_attempts=3)
    assert decision.outcome is Outcome.FAILED
    assert decision.needs_attention is True
    assert decision.code == code


def test_code_whitespace_is_ignored():
    assert decide("  Verwerkt\n", attempt=1, max_attempts=1).outcome is Outcome.DELIVERED


def test_attempts_start_at_one():
    with pytest.raises(ValueError):
        decide("Verwerkt", attempt=0, max_attempts=3)


# --------------------------------------------------------------------------- transitions


def test_final_states_have_no_way_out_except_the_two_moves_out_of_failed():
    """The table production uses (the trigger is checked against the same table in
    tests/integration/test_outcome_machine.py): delivered, not_subscribed and rejected
    never change; failed only becomes delivered (delivery evidence wins) or planned
    (an operator's redelivery)."""
    for state in FINAL_OUTCOMES:
        assert is_final(state)
        allowed = {Outcome.DELIVERED, Outcome.PLANNED} if state is Outcome.FAILED else set()
        assert TRANSITIONS[state] == allowed
        for target in Outcome:
            assert can_transition(state, target) == (target == state or target in allowed)
    assert CORRECTIONS == {(Outcome.FAILED, Outcome.DELIVERED)}


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("planned", "queued"),
        ("planned", "not_subscribed"),
        ("planned", "rejected"),
        ("queued", "sent"),
        ("queued", "rejected"),
        ("queued", "delivered"),  # result arrived before the ack was recorded
        ("sent", "delivered"),
        ("sent", "not_subscribed"),
        ("sent", "failed"),
        ("sent", "queued"),  # resend after TechnischProbleem
        ("sent", "sent"),  # idempotent re-record
        ("delivered", "delivered"),  # a result processed twice
        ("failed", "delivered"),  # delivery evidence wins (a correction)
        ("failed", "planned"),  # an operator's redelivery
        ("planned", "delivered"),  # late evidence for a message planned again
    ],
)
def test_allowed_transitions(current, target):
    assert check_transition(current, target) == Outcome(target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("planned", "sent"),
        ("planned", "failed"),
        ("sent", "rejected"),
        ("sent", "planned"),
        ("delivered", "failed"),
        ("failed", "queued"),
        ("failed", "not_subscribed"),
        ("delivered", "planned"),
        ("not_subscribed", "delivered"),
        ("rejected", "delivered"),
        ("not_subscribed", "queued"),
        ("rejected", "queued"),
    ],
)
def test_forbidden_transitions(current, target):
    assert not can_transition(current, target)
    with pytest.raises(InvalidTransition, match=f"from '{current}' to '{target}'"):
        check_transition(current, target)


def test_unknown_state_is_an_error():
    with pytest.raises(ValueError):
        can_transition("planned", "lost")


# --------------------------------------------------------------------------- reconcile


def test_reconcile_complete_when_final_outcomes_add_up():
    result = reconcile(100, {"rejected": 3, "not_subscribed": 40, "delivered": 50, "failed": 2, "cancelled": 5})
    assert result and result.complete and result.consistent
    assert (result.rows, result.final, result.open) == (100, 100, 0)
    assert result.explanation == (
        "complete: rejected 3 + not subscribed 40 + delivered 50 + failed 2 + cancelled 5 = 100 of 100 rows"
    )


def test_reconcile_in_progress_names_what_is_open():
    result = reconcile(100, {"rejected": 3, "delivered": 50, "queued": 40, "sent": 7})
    assert not result and result.consistent
    assert result.open == 47
    assert result.explanation.endswith("waiting: queued 40, sent 7")


def test_reconcile_detects_dropped_rows():
    result = reconcile(100, {"delivered": 98})
    assert not result.complete and not result.consistent
    assert "2 row(s) have no message and no outcome" in result.explanation


def test_reconcile_detects_double_counting():
    result = reconcile(10, {"delivered": 10, "failed": 1})
    assert not result.consistent
    assert "1 more outcome(s) than rows" in result.explanation


def test_reconcile_refuses_unknown_names_and_negative_counts():
    with pytest.raises(ValueError, match="lost"):
        reconcile(1, {"lost": 1})
    with pytest.raises(ValueError):
        reconcile(1, {"delivered": -1})
