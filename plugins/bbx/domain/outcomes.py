"""The outcome of one message: an explicit state machine, and what each result code means.

States (GOV.UK Notify style: named states, allowed transitions as data)::

    planned ──► queued ──► sent ──► delivered        (final)
       │          │  ▲       │ ───► not_subscribed   (final)
       │          │  └───────┘ ───► failed           (final, with code)
       │          └─► (a result may arrive before BBX recorded "sent": same targets)
       ├──► not_subscribed   (not in the register on the send date: never sent)
       ├──► rejected         (validation, with reason: never sent)
       └──► cancelled        (the tenant cancelled; also from queued: never sent)

- ``planned``: accepted, waiting to be put into a batch;
- ``queued``: in a built batch, not yet acknowledged by the ebMS adapter;
- ``sent``: acknowledged by the adapter, waiting for the GLOBE-R-BV-Result;
- ``sent → queued``: resend after ``TechnischProbleem`` (same BerichtID), or an operator
  resend of a batch whose result never came. Resending is safe: MijnOverheid answers
  ``BerichtBestaatAl`` for a message it already has, which counts as delivered.

- ``planned/queued → cancelled``: the tenant cancelled the submission before the message's
  batch was acknowledged by the adapter (:mod:`bbx.store.cancel`). A ``sent`` message is
  with MijnOverheid and cannot be recalled: it has no move to ``cancelled``.

Two moves leave ``failed``, and nothing else leaves a final state:

- ``failed → delivered``: **delivery evidence wins** (:func:`classify_line`). A
  ``Verwerkt``/``BerichtBestaatAl`` for a BerichtID is proof the citizen has the letter,
  whenever it arrives — also after a ``TechnischProbleem`` on the last attempt made the
  message final ``failed`` (an answer lost after processing, a resend, results out of
  order). The store reports such a correction to the tenant (a new result file version);
- ``failed → planned``: an operator's redelivery (``bbx_redeliver``), same BerichtID.

The five final outcomes add up to the rows handed in (product.md, "outcome rule"):
``rejected + not_subscribed + delivered + failed + cancelled = rows``; see :func:`reconcile`.
Recording the state a message is already in is allowed (a rerun, or a result processed
twice). :data:`TRANSITIONS` is the one table: migration ``050_outcome_transitions.sql``
writes the same pairs into ``outcome_transitions`` (``110_cancel_and_schedule.sql`` adds
the moves to ``cancelled``), whose trigger enforces them, and
``tests/delivery/test_outcome_machine.py`` fails when the two differ.

Over ~400 lines on purpose: the state machine, the code table and the reading of a
result line are one rule (what a result means) and are read together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    CANCELLED = "cancelled"


FINAL_OUTCOMES: frozenset[Outcome] = frozenset(
    {Outcome.REJECTED, Outcome.NOT_SUBSCRIBED, Outcome.DELIVERED, Outcome.FAILED, Outcome.CANCELLED}
)
OPEN_OUTCOMES: frozenset[Outcome] = frozenset(Outcome) - FINAL_OUTCOMES
# "This BSN was handed in for this message type and is (being) sent": a second row for it
# is a duplicate. Rejected, not subscribed, failed or cancelled rows may be handed in again.
HANDED_IN: frozenset[Outcome] = OPEN_OUTCOMES | {Outcome.DELIVERED}
IN_FLIGHT: frozenset[Outcome] = frozenset({Outcome.QUEUED, Outcome.SENT})  # in a batch, no result yet


def sql_list(states) -> str:
    """``('a', 'b')`` for SQL ``IN``, from :class:`Outcome` members only (never input)."""
    return "(" + ", ".join(f"'{Outcome(s).value}'" for s in sorted(states)) + ")"

_RESULT_TARGETS = frozenset({Outcome.DELIVERED, Outcome.NOT_SUBSCRIBED, Outcome.FAILED})

TRANSITIONS: Mapping[Outcome, frozenset[Outcome]] = {
    # DELIVERED from planned: late delivery evidence for a message an operator planned
    # again (failed → planned) after an earlier send had in fact arrived.
    # CANCELLED (from planned or queued, never from sent): the tenant cancelled in time.
    Outcome.PLANNED: frozenset({Outcome.QUEUED, Outcome.NOT_SUBSCRIBED, Outcome.REJECTED, Outcome.DELIVERED,
                                Outcome.CANCELLED}),
    # REJECTED from queued: a message found invalid while its batch is built.
    Outcome.QUEUED: frozenset({Outcome.SENT, Outcome.REJECTED, Outcome.CANCELLED}) | _RESULT_TARGETS,
    Outcome.SENT: frozenset({Outcome.QUEUED}) | _RESULT_TARGETS,
    Outcome.NOT_SUBSCRIBED: frozenset(),
    Outcome.DELIVERED: frozenset(),
    # DELIVERED: delivery evidence wins (a correction); PLANNED: an operator's redelivery.
    Outcome.FAILED: frozenset({Outcome.DELIVERED, Outcome.PLANNED}),
    Outcome.REJECTED: frozenset(),
    Outcome.CANCELLED: frozenset(),
}

# Moves that change a final count after the fact: the tenant gets a corrected result file.
CORRECTIONS: frozenset[tuple[Outcome, Outcome]] = frozenset({(Outcome.FAILED, Outcome.DELIVERED)})

# The paper-mail fallback ("undeliverable"): valid rows that could not go digitally.
# Rejected rows are NOT on it: the tenant corrects and hands them in again (intake's
# error report), and a rejected duplicate of a delivered row must not become a second,
# paper letter. Every output (SFTP undeliverable.csv, the submission page, the API's
# ``undeliverable`` filter) uses this one definition.
UNDELIVERABLE: tuple[Outcome, ...] = (Outcome.NOT_SUBSCRIBED, Outcome.FAILED)


class InvalidTransition(ValueError):
    """A state change the outcome machine does not allow (a bug, or a race to look at)."""


def transition_pairs() -> frozenset[tuple[str, str]]:
    """Every allowed ``(from, to)`` pair with ``from != to``, as the database stores them."""
    return frozenset((a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets)


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


TECHNISCH_PROBLEEM = "TechnischProbleem"
DELIVERY_EVIDENCE: frozenset[str] = frozenset(
    code for code, meaning in VERWERKINGSCODES.items() if meaning.kind is ResultKind.DELIVERED
)
ACCOUNTED_UNKNOWN_EXPLANATION = (
    "Delivered to the citizen's Berichtenbox (MijnOverheid answered code {code!r}, which "
    "the batch's counters count as processed successfully)."
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
    retries_exhausted: bool = False  # TechnischProbleem on the last allowed attempt

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES


def decide(code: str, *, attempt: int, max_attempts: int, unknown_is_delivered: bool = False) -> ResultDecision:
    """The decision for a message whose ``attempt``-th send (1 = first) got ``code``.

    ``TechnischProbleem`` is resent with the same ids while ``attempt < max_attempts``,
    then failed. Unknown codes (e.g. ``00``, seen in a real result) are failed and
    flagged — never assume delivery — unless the batch's counters account for them as
    delivered (``unknown_is_delivered``, from :func:`read_batch`).
    """
    if attempt < 1 or max_attempts < 1:
        raise ValueError("attempt and max_attempts count sends and start at 1")
    code = (code or "").strip()
    meaning = VERWERKINGSCODES.get(code)
    if meaning is None:
        if unknown_is_delivered:
            return ResultDecision(code, Outcome.DELIVERED, False, False, False,
                                  ACCOUNTED_UNKNOWN_EXPLANATION.format(code=code))
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
            retries_exhausted=True,
        )
    return ResultDecision(code, Outcome.FAILED, False, False, False, meaning.explanation)


# --------------------------------------------------------------------------- one batch's result


# Per-code counters of BatchInformatie (GLOBEBatchResponse.xsd): attribute of
# ``bbx.domain.globe.BatchResult`` -> the codes it counts. Codes without a counter
# (BijlageTeGroot, Oin…, XmlValidatie…) are not checked against one.
_COUNTERS: Mapping[str, frozenset[str]] = {
    "succeeded": DELIVERY_EVIDENCE,
    "not_subscribed": frozenset({"NietActiefOfGeabonneerd"}),
    "technical_problem": frozenset({TECHNISCH_PROBLEEM}),
    "message_type_incorrect": frozenset({"BerichtTypeNietOndersteund"}),
    "publication_date_incorrect": frozenset({"PublicatieDatumLigtTeVerInDeToekomst"}),
    "creation_date_incorrect": frozenset({"AanmaakDatumLigtTeVerInHetVerleden"}),
}


@dataclass(frozen=True, slots=True)
class BatchReading:
    """How to read the codes of one result: whether its unknown code counts as delivered."""

    unknown_is_delivered: bool
    problems: tuple[str, ...]  # for the operator (unknown codes the counters do not explain)


def read_batch(codes: Sequence[str], counters: Mapping[str, int | None]) -> BatchReading:
    """Reconcile a batch's per-message ``codes`` with its counters (``succeeded``,
    ``not_subscribed``, ... as in :data:`_COUNTERS`, plus ``total_received``).

    A live adapter answers ``00`` where the documentation says ``Verwerkt`` (interface.md
    §3, "as seen live"). An unknown code counts as delivered only when the counters
    account for it: every line has one code, all unknown lines carry the *same* code,
    ``TotaalAantalOntvangenBerichten`` is the number of lines, and
    ``AantalBerichtenSuccesvolVerwerkt`` equals ``Verwerkt`` (with or without
    ``BerichtBestaatAl``: the contract leaves it open) plus the unknown lines, while every
    other counter matches its known code. Anything that does
    not add up: the unknown lines are failed with operator attention, never silently
    delivered. Known codes always mean what the contract says.
    """
    cleaned = [(c or "").strip() for c in codes]
    unknown = [c for c in cleaned if c not in VERWERKINGSCODES]
    if not unknown:
        return BatchReading(False, ())
    distinct = sorted(set(unknown))
    label = ", ".join(f"{c!r} × {unknown.count(c)}" for c in distinct)
    why: list[str] = []
    if len(distinct) > 1:
        why.append("more than one unknown code in one batch")
    if counters.get("total_received") != len(cleaned):
        why.append(f"TotaalAantalOntvangenBerichten is {counters.get('total_received')}, "
                   f"the result lists {len(cleaned)} messages")
    for name, counted in _COUNTERS.items():
        value = counters.get(name)
        if name == "succeeded":
            # The contract does not say whether AantalBerichtenSuccesvolVerwerkt counts
            # BerichtBestaatAl (the simulator counts only Verwerkt): accept either reading,
            # but not a value that fits "the unknown code is a success" under one reading and
            # "it is an uncounted failure" under the other (as many BestaatAl as unknown lines).
            verwerkt, bestaat = cleaned.count("Verwerkt"), cleaned.count("BerichtBestaatAl")
            readings = {verwerkt + len(unknown), verwerkt + bestaat + len(unknown)}
            ambiguous = bestaat and bestaat == len(unknown) and value == verwerkt + len(unknown)
            if value not in readings or ambiguous:
                shown = " or ".join(str(r) for r in sorted(readings))
                why.append(f"counter {name} is {value}, expected {shown}"
                           + (" (ambiguous: as many BerichtBestaatAl as unknown lines)" if ambiguous else ""))
            continue
        expected = sum(c in counted for c in cleaned)
        if value != expected:
            why.append(f"counter {name} is {value}, expected {expected}")
    if why:
        return BatchReading(False, (f"unknown VerwerkingsCode(s) {label} are not accounted for by the batch "
                                    f"counters ({'; '.join(why)}): counted as failed",))
    return BatchReading(True, ())


class LineAction(StrEnum):
    IGNORE = "ignore"  # nothing changes (duplicate, stale, unknown message, already final)
    RETRY = "retry"  # resend with the same BerichtID (TechnischProbleem, attempts left)
    FINAL = "final"  # the message's outcome is now final
    CORRECT = "correct"  # a final outcome is corrected (failed → delivered): tell the tenant


@dataclass(frozen=True, slots=True)
class LineVerdict:
    action: LineAction
    decision: ResultDecision | None  # None when ignored before deciding
    doubt: str | None = None  # why an ignored line needs an operator (contradiction)

    @property
    def outcome(self) -> Outcome | None:
        return self.decision.outcome if self.decision else None


def classify_line(code: str, *, current: str | None, in_this_batch: bool, seen_in_result: bool,
                  attempt: int, max_attempts: int, unknown_is_delivered: bool = False) -> LineVerdict:
    """What one result line does to its message — the outcome rule, in one place.

    ``current``: the message's outcome now (None: no such BerichtID); ``in_this_batch``:
    the message sits in the batch this result is for (it may have moved on to a resend
    batch); ``seen_in_result``: the BerichtID occurred earlier in the same result.

    **Delivery evidence wins**: ``Verwerkt``/``BerichtBestaatAl`` (or an unknown code the
    counters account for) makes the message delivered from any open state, whichever
    batch it came from, and corrects a ``failed`` one. Any other code only applies to a
    message that is open and still in this batch; otherwise the line is stale and ignored.
    """
    if current is None or seen_in_result:
        return LineVerdict(LineAction.IGNORE, None)
    state = Outcome(current)
    decision = decide(code, attempt=max(attempt, 1), max_attempts=max_attempts,
                      unknown_is_delivered=unknown_is_delivered)
    if decision.outcome is Outcome.DELIVERED:
        if state is Outcome.DELIVERED:
            return LineVerdict(LineAction.IGNORE, decision)
        if (state, Outcome.DELIVERED) in CORRECTIONS:
            return LineVerdict(LineAction.CORRECT, decision)
        if can_transition(state, Outcome.DELIVERED):
            return LineVerdict(LineAction.FINAL, decision)
        return LineVerdict(LineAction.IGNORE, decision,
                           doubt=f"delivery evidence ({decision.code}) for a message that is final {state.value}")
    if state not in (Outcome.QUEUED, Outcome.SENT) or not in_this_batch:
        return LineVerdict(LineAction.IGNORE, decision)
    return LineVerdict(LineAction.RETRY if decision.retry else LineAction.FINAL, decision)


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

    Complete when the five final outcomes add up to ``rows_handed_in`` and nothing is
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
        f"+ failed {by_state[Outcome.FAILED]} + cancelled {by_state[Outcome.CANCELLED]} "
        f"= {final} of {rows_handed_in} rows"
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
