"""The database enforces exactly ``bbx.domain.outcomes.TRANSITIONS`` (issue 11 item 2):
the trigger's table equals the domain's, and every pair of states is tried against the
trigger itself — allowed iff the domain allows it. Real PostgreSQL."""

from __future__ import annotations

import itertools
import uuid

import psycopg
import pytest
from delivery_helpers import bsns, planned_submission

from bbx.domain.outcomes import FINAL_OUTCOMES, Outcome, transition_pairs


def test_the_trigger_table_is_the_domain_table(db):
    stored = {(r["from_outcome"], r["to_outcome"])
              for r in db.execute("SELECT from_outcome, to_outcome FROM outcome_transitions")}
    assert stored == set(transition_pairs())


def _fields(state: str, batch_id: str) -> dict:
    final = Outcome(state) in FINAL_OUTCOMES
    return {
        "outcome": state,
        "outcome_reason": "why" if state in ("rejected", "failed", "not_subscribed", "cancelled") else None,
        "outcome_code": "Verwerkt" if state == "delivered" else None,
        "final_at": "now" if final else None,
        "batch_id": batch_id if state in ("queued", "sent", "delivered", "failed") else None,
    }


def test_every_pair_of_states_is_allowed_exactly_when_the_domain_allows_it(tenants):
    db = tenants.db
    numbers = bsns(1, seed=71)
    tenants.subscribe("voorbeeld", numbers)
    sid, planned = planned_submission(tenants, numbers)
    batch_id = planned["slices"][0]["batch_ids"][0]
    # the rows made up below are of this batch: its row range (migration 260) holds them
    db.execute("UPDATE batches SET last_row = 1000 WHERE id = %s", (batch_id,))
    c = tenants.connections["voorbeeld"]
    allowed = transition_pairs()
    seen: dict[tuple[str, str], bool] = {}
    for row, (a, b) in enumerate(itertools.permutations([o.value for o in Outcome], 2), start=100):
        start = _fields(a, batch_id)
        pk = db.execute(
            """INSERT INTO messages (submission_id, connection_id, row_number, bsn, message_id, outcome,
                                     outcome_reason, outcome_code, final_at, batch_id)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::timestamptz, %s) RETURNING id""",
            (sid, c.id, row, numbers[0], str(uuid.uuid4()), start["outcome"], start["outcome_reason"],
             start["outcome_code"], start["final_at"], start["batch_id"]),
        ).fetchone()["id"]
        if (a, b) == ("failed", "delivered"):  # only as a recorded correction (tested below)
            db.execute("""INSERT INTO outcome_corrections (message_id, submission_id, from_outcome, to_outcome,
                                                           to_code, ebms_message_id)
                          VALUES (%s, %s, 'failed', 'delivered', 'Verwerkt', 'test')""", (pk, sid))
        target = _fields(b, batch_id)
        try:
            with db.transaction():
                db.execute(
                    """UPDATE messages SET outcome = %s, outcome_reason = %s, outcome_code = %s,
                              final_at = %s::timestamptz, batch_id = %s WHERE id = %s""",
                    (target["outcome"], target["outcome_reason"], target["outcome_code"], target["final_at"],
                     target["batch_id"], pk),
                )
            seen[(a, b)] = True
        except psycopg.errors.CheckViolation as exc:
            assert "cannot go from" in str(exc), exc
            seen[(a, b)] = False
    wrong = {pair: ok for pair, ok in seen.items() if ok != (pair in allowed)}
    assert not wrong, f"trigger and TRANSITIONS disagree (True = trigger allowed): {wrong}"
    assert sum(seen.values()) == len(allowed)


def test_failed_becomes_delivered_only_as_a_recorded_correction(tenants):
    db = tenants.db
    numbers = bsns(1, seed=72)
    tenants.subscribe("voorbeeld", numbers)
    sid, planned = planned_submission(tenants, numbers)
    batch_id = planned["slices"][0]["batch_ids"][0]
    db.execute("""UPDATE messages SET outcome = 'failed', outcome_code = 'TechnischProbleem', outcome_reason = 'x',
                         final_at = now(), batch_id = %s WHERE submission_id = %s""", (batch_id, sid))
    with pytest.raises(psycopg.errors.CheckViolation, match="recorded correction"):
        db.execute("UPDATE messages SET outcome = 'delivered', outcome_code = 'Verwerkt' WHERE submission_id = %s",
                   (sid,))
