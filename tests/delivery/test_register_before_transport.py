"""The register decision is BBX's own and comes before any transport (docs/transport.md).

After the move from GLOBE to BBO with Generieke Services, Logius delivers whatever it is
offered; the sender alone checks the subscription. So the check must not depend on the
receiver refusing, and no transport may be able to skip it: it happens while planning,
before a batch exists, and a transport only ever gets batches.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

from delivery_helpers import bsns, deliver, rows_for

from bbx.delivery import plan


def test_a_permissive_receiver_gets_nothing_the_register_refuses(world):
    """MijnOverheid (the simulator) would deliver to these citizens; BBX's register says
    no: they are never offered, on every channel."""
    ours, only_theirs = bsns(3, seed=61), bsns(4, seed=62)
    world.subscribe("voorbeeld", ours)
    world.subscribe("voorbeeld", only_theirs, ours=False)  # subscribed at MijnOverheid only
    sftp = world.submit("voorbeeld", "PASPRT", rows_for(ours + only_theirs[:2]))
    api = world.submit("voorbeeld", "PASPRT", rows_for(only_theirs[2:]), channel="api")

    deliver(world)

    outcomes = world.outcomes(sftp) | world.outcomes(api)
    assert {outcomes[b] for b in ours} == {("delivered", "Verwerkt")}
    assert {outcomes[b] for b in only_theirs} == {("not_subscribed", "NotInRegister")}
    for citizen in only_theirs:
        assert world.sim.admin.box(citizen) == []  # never offered, so never delivered
    received = sum(b["messages"] for b in world.sim.admin.batches())
    assert received == len(ours)


def test_planning_always_decides_on_the_register_before_batching():
    """Structure: ``plan_submission`` calls the register decision first, unconditionally
    (not under an if/try, no flag or transport argument that could skip it), and only
    then cuts batches. What a transport sends is read from batches only."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(plan.plan_submission)))
    function = tree.body[0]
    assert [a.arg for a in function.args.args + function.args.kwonlyargs] == ["conn", "submission", "day", "kind"]
    first, second = function.body[1], function.body[2]  # body[0] is the docstring
    calls = [
        node.value.func.attr
        for node in (first, second)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
    ]
    assert calls == ["decide_register", "cut_into_batches"]


def test_the_batch_builder_reads_only_messages_that_passed_planning():
    from bbx.domain import outcomes
    from bbx.store import batches as batch_store

    sql = inspect.getsource(batch_store.batch_messages)
    assert "WHERE {IN_RANGE} AND m.outcome IN {_IN_FLIGHT}" in sql
    assert batch_store.IN_RANGE.endswith("AND m.batch_id = %(batch)s")  # the batch's range, then its own rows
    assert batch_store._IN_FLIGHT == "('queued', 'sent')" == outcomes.sql_list(outcomes.IN_FLIGHT)
