"""The outcome of one message: an explicit state machine, and what each result code means.

States (GOV.UK Notify style: named states, allowed transitions as data)::

    planned ──► queued ──► sent ──► delivered        (final)
       │          │  ▲       │ ───► not_subscribed   (final)
       │          │  └───────┘ ───► failed           (final, with code)
       │          └─► (a result may arrive before BBX recorded "sent": same targets)
       ├──► not_subscribed   (not in the register on the send date: never sent)
       └──► rejected         (validation, with reason: never sent)

- ``planned``: accepted, waiting to be put into a batch;
- ``queued``: in a built batch, not yet acknowledged by the ebMS adapter;
- ``sent``: acknowledged by the adapter, waiting for the GLOBE-R-BV-Result;
- ``sent → queued``: resend after ``TechnischProbleem`` (same BerichtID), or an operator
  resend of a batch whose result never came. Resending is safe: MijnOverheid answers
  ``BerichtBestaatAl`` for a message it already has, which counts as delivered.

The four final outcomes add up to the rows handed in (product.md, "outcome rule"):
``rejected + not_subscribed + delivered + failed = rows``; see :func:`reconcile`.
Recording the state a message is already in is allowed (a rerun, or a result processed
twice); moving out of a final state is not. The database enforces the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    PLANNED = "planned"
    QUEUED = "queued"
    SENT = "sent"
    NOT_SUBSCRIBED = "not_subscribed"
    DELIVERED = "delivered"
    FAILED = "failed"
    REJECTED = "rejected"


FINAL_OUTCOMES: frozenset[Outcome] = frozenset(
    {Outcome.REJECTED, Outcome.NOT_SUBSCRIBED, Outcome.DELIVERED, Outcome.FAILED}
)
OPEN_OUTCOMES: frozenset[Outcome] = frozenset(Outcome) - FINAL_OUTCOMES

_RESULT_TARGETS = frozenset({Outcome.DELIVERED, Outcome.NOT_SUBSCRIBED, Outcome.FAILED})

TRANSITIONS: Mapping[Outcome, frozenset[Outcome]] = {
    Outcome.PLANNED: frozenset({Outcome.QUEUED, Outcome.NOT_SUBSCRIBED, Outcome.REJECTED}),
    # REJECTED from queued: a message found invalid while its batch is built.
    Outcome.QUEUED: frozenset({Outcome.SENT, Outcome.REJECTED}) | _RESULT_TARGETS,
    Outcome.SENT: frozenset({Outcome.QUEUED}) | _RESULT_TARGETS,
    Outcome.NOT_SUBSCRIBED: frozenset(),
    Outcome.DELIVERED: frozenset(),
    Outcome.FAILED: frozenset(),
    Outcome.REJECTED: frozenset(),
}


class InvalidTransition(ValueError):
    """A state change the outcome machine does not allow (a bug, or a race to look at)."""


def is_final(state: str) -> bool:
    return Outcome(state) in FINAL_OUTCOMES


def can_transition(current: str, target: str) -> bool:
    """True when ``current → target`` is allowed; staying in the same state always is."""
    current, target = Outcome(current), Outcome(target)
    return current == target or target in TRANSITIONS[current]


def check_transition(current: str, target: str) -> Outcome:
    """Return ``target`` as an :class:`Outcome`, or raise :class:`InvalidTransition`."""
    if not can_transition(current, target):
        raise InvalidTransition(
            f"a message cannot go from {current!r} to {target!r}"
            + (" (that outcome is final)" if is_final(current) else "")
        )
    return Outcome(target)


# --------------------------------------------------------------------------- result codes


class ResultKind(StrEnum):
    DELIVERED = "delivered"
    NOT_SUBSCRIBED = "not_subscribed"
    TRANSIENT = "transient"  # resend with the same ids
    PERMANENT = "permanent"  # failed for this content; resending would not help


@dataclass(frozen=True, slots=True)
class CodeMeaning:
    kind: ResultKind
    explanation: str  # for the tenant's result file and the BSN lookup


# Every VerwerkingsCode of the contract (interface.md §3, GLOBEBatchResponseTypes.xsd).
VERWERKINGSCODES: Mapping[str, CodeMeaning] = {
    "Verwerkt": CodeMeaning(ResultKind.DELIVERED, "Delivered to the citizen's Berichtenbox."),
    "BerichtBestaatAl": CodeMeaning(
        ResultKind.DELIVERED,
        "Already in the citizen's Berichtenbox from an earlier send of the same message.",
    ),
    "NietActiefOfGeabonneerd": CodeMeaning(
        ResultKind.NOT_SUBSCRIBED,
        "The citizen has no active Berichtenbox or no subscription to this sender "
        "(the register was out of date); send this letter on paper.",
    ),
    "TechnischProbleem": CodeMeaning(
        ResultKind.TRANSIENT,
        "A technical problem at MijnOverheid; BBX resends the message automatically.",
    ),
    "BerichtTypeNietOndersteund": CodeMeaning(
        ResultKind.PERMANENT,
        "MijnOverheid does not accept this message type: check that the code is "
        "registered and active for this sender at Logius, then submit again.",
    ),
    "PublicatieDatumLigtTeVerInDeToekomst": CodeMeaning(
        ResultKind.PERMANENT,
        "The publication date is more than 13 days after delivery: choose an earlier "
        "date and submit again.",
    ),
    "AanmaakDatumLigtTeVerInHetVerleden": CodeMeaning(
        ResultKind.PERMANENT,
        "The batch was created more than 13 days before delivery: an operator must "
        "rebuild and resend it.",
    ),
    "BijlageTeGroot": CodeMeaning(
        ResultKind.PERMANENT,
        "The attachments are too large for MijnOverheid (at most 500 kB per message): "
        "reduce the PDFs and submit again.",
    ),
    "OinInCPAKomtNietOvereenMetOinInBericht": CodeMeaning(
        ResultKind.PERMANENT,
        "The sender's OIN does not match the connection's agreement (CPA) at Logius: "
        "an operator must fix the connection configuration.",
    ),
    "XmlValidatieTegenXsdValtNegatiefUit": CodeMeaning(
        ResultKind.PERMANENT,
        "MijnOverheid rejected the message as invalid XML: an operator must investigate.",
    ),
}

UNKNOWN_CODE_EXPLANATION = (
    "MijnOverheid answered with a result code BBX does not know; the message is counted "
    "as failed and an operator must investigate whether it arrived."
)


@dataclass(frozen=True, slots=True)
class ResultDecision:
    """What to record for one message after one ``VerwerkingsCode``."""

    code: str  # as received
    outcome: Outcome  # delivered / not_subscribed / failed, or queued for a resend
    retry: bool  # resend with the same BerichtID
    register_stale: bool  # the register said subscribed, MijnOverheid says not
    needs_attention: bool  # an operator should look (unknown code, retries exhausted)
    explanation: str

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES


def decide(code: str, *, attempt: int, max_attempts: int) -> ResultDecision:
    """The decision for a message whose ``attempt``-th send (1 = first) got ``code``.

    ``TechnischProbleem`` is resent with the same ids while ``attempt < max_attempts``,
    then failed. Unknown codes (e.g. ``00``, seen in a real result) are failed and
    flagged: never assume delivery.
    """
    if attempt < 1 or max_attempts < 1:
        raise ValueError("attempt and max_attempts count sends and start at 1")
    code = (code or "").strip()
    meaning = VERWERKINGSCODES.get(code)
    if meaning is None:
        return ResultDecision(code, Outcome.FAILED, False, False, True, UNKNOWN_CODE_EXPLANATION)
    if meaning.kind is ResultKind.DELIVERED:
        return ResultDecision(code, Outcome.DELIVERED, False, False, False, meaning.explanation)
    if meaning.kind is ResultKind.NOT_SUBSCRIBED:
        return ResultDecision(code, Outcome.NOT_SUBSCRIBED, False, True, False, meaning.explanation)
    if meaning.kind is ResultKind.TRANSIENT:
        if attempt < max_attempts:
            return ResultDecision(code, Outcome.QUEUED, True, False, False, meaning.explanation)
        return ResultDecision(
            code,
            Outcome.FAILED,
            False,
            False,
            True,
            f"A technical problem at MijnOverheid persisted after {attempt} attempts; "
            "an operator must investigate.",
        )
    return ResultDecision(code, Outcome.FAILED, False, False, False, meaning.explanation)


# --------------------------------------------------------------------------- reconciliation


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Whether a submission is finished, and why (or why not) in words."""

    complete: bool
    consistent: bool  # False: more or fewer outcomes than rows — a bug to investigate
    rows: int
    final: int
    open: int
    explanation: str

    def __bool__(self) -> bool:
        return self.complete


def reconcile(rows_handed_in: int, counts: Mapping[str, int]) -> Reconciliation:
    """Check the outcome rule for a submission: ``counts`` maps outcome names (any of
    :class:`Outcome`; missing names count 0) to numbers of rows/messages.

    Complete when the four final outcomes add up to ``rows_handed_in`` and nothing is
    open. Inconsistent when the total is not ``rows_handed_in`` (rows lost or counted
    twice).
    """
    unknown = sorted(set(counts) - {o.value for o in Outcome})
    if unknown:
        raise ValueError(f"unknown outcome name(s): {', '.join(unknown)}")
    if rows_handed_in < 0 or any(n < 0 for n in counts.values()):
        raise ValueError("counts cannot be negative")
    by_state = {o: int(counts.get(o.value, 0)) for o in Outcome}
    final = sum(by_state[o] for o in FINAL_OUTCOMES)
    open_ = sum(by_state[o] for o in OPEN_OUTCOMES)
    summary = (
        f"rejected {by_state[Outcome.REJECTED]} + not subscribed "
        f"{by_state[Outcome.NOT_SUBSCRIBED]} + delivered {by_state[Outcome.DELIVERED]} "
        f"+ failed {by_state[Outcome.FAILED]} = {final} of {rows_handed_in} rows"
    )
    total = final + open_
    if total != rows_handed_in:
        gap = rows_handed_in - total
        what = (
            f"{gap} row(s) have no message and no outcome (dropped?)"
            if gap > 0
            else f"{-gap} more outcome(s) than rows (counted twice?)"
        )
        return Reconciliation(
            False, False, rows_handed_in, final, open_, f"inconsistent: {summary}; {what}"
        )
    if open_:
        waiting = ", ".join(
            f"{o.value} {by_state[o]}"
            for o in (Outcome.PLANNED, Outcome.QUEUED, Outcome.SENT)
            if by_state[o]
        )
        return Reconciliation(
            False, True, rows_handed_in, final, open_, f"in progress: {summary}; waiting: {waiting}"
        )
    return Reconciliation(True, True, rows_handed_in, final, 0, f"complete: {summary}")
