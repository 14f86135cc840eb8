"""Both result dialects through the whole delivery path: the simulator answers a sender in
the live adapter's dialect (qualified root, ``Z`` timestamps, ``VerwerkingsCode 00`` for
every message its counters call processed) and BBX still ends every row in its true
outcome — delivered where the counters account for it, a real refusal stays a failure.
The simulator owns the dialect (``--result-dialect``); BBX's reading is
``bbx.domain.outcomes.read_batch``."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from delivery_helpers import assert_exactly_once, bsns, deliver, read_csv, rows_for


@pytest.mark.parametrize("dialect", ["documented", "live"])
def test_a_submission_closes_with_true_outcomes_in_either_dialect(world, dialect):
    c = world.connections["voorbeeld"]
    world.sim.admin.set_result_dialect(c.oin, dialect)
    numbers = bsns(6, seed=71 if dialect == "live" else 72)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers), external_ref=f"dialect-{dialect}")
    # one real refusal in the same batch: a publication date too far ahead
    world.db.execute("UPDATE messages SET publication_date = %s WHERE submission_id = %s AND row_number = 6",
                     (date.today() + timedelta(days=20), sid))
    world.db.commit()

    deliver(world)

    outcomes = world.outcomes(sid)
    delivered = {b: outcomes[b] for b in numbers[:5]}
    assert {o for o, _ in delivered.values()} == {"delivered"}, outcomes
    expected_code = "00" if dialect == "live" else "Verwerkt"
    assert {code for _, code in delivered.values()} == {expected_code}
    assert outcomes[numbers[5]] == ("failed", "PublicatieDatumLigtTeVerInDeToekomst")
    assert world.status(sid) == "closed"
    assert assert_exactly_once(world, [sid]) == 5
    paper = read_csv(world.outbox("voorbeeld") / f"dialect-{dialect}.s{sid}.undeliverable.csv")
    assert [r["bsn"] for r in paper] == [numbers[5]]
