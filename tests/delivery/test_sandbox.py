"""The *test* API key kind end to end (issue 14): a test key's hand-in is a sandbox
submission, delivered to the sandbox endpoint (a second simulator process over mTLS, the
Airflow Connection ``bbx_berichtenbox_sandbox``) and never to the live adapter (the
``world`` simulator), with real acknowledgements and results, closed with its counts and
a result file. The live path beside it is unaffected; a miswired transport is refused
at the last step before sending."""

from __future__ import annotations

import json
import uuid

import pytest
from delivery_helpers import MIJNOVERHEID, bsns, deliver, read_csv, rows_for
from fastapi.testclient import TestClient

from bbx.delivery import results, send
from bbx.hooks.berichtenbox import BerichtenboxHook
from bbx.store import api_keys
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, TlsFiles
from simulator.testing import INTERMEDIARY, SimulatorHandle

SANDBOX_ENV = "AIRFLOW_CONN_BBX_BERICHTENBOX_SANDBOX"
TENANT = "gemeente-voorbeeld"


@pytest.fixture(scope="module")
def sandbox_server(simulator_pki):
    """A second simulator, the sandbox: its own process state, the same test PKI."""
    from simulator.client import AdminClient

    tls = TlsFiles(simulator_pki.server.cert, simulator_pki.server.key, simulator_pki.ca)
    running = RunningSimulator(SimulatorConfig(senders=[], result_delay=0.0), tls).start()
    admin = AdminClient(running.base_url, simulator_pki.ca, simulator_pki.admin)
    try:
        yield SimulatorHandle(running.base_url, simulator_pki, admin, running.app.config, running)
    finally:
        admin.close()
        running.stop()


@pytest.fixture
def sandbox(world, sandbox_server, monkeypatch) -> SimulatorHandle:
    """The sandbox speaks for every connection with one intermediary certificate; its
    Connection names no CPA or party (each connection's own are used)."""
    sandbox_server.app.reset(state=True, faults=True, clock=True, senders=True)
    for c in world.connections.values():
        sandbox_server.admin.add_sender(
            c.oin,
            sorted(c.types),
            cpa_id=c.cpa_id,
            population={"size": 0},
            certificate_oins=[c.oin, INTERMEDIARY],
        )
    cert = sandbox_server.pki.client(INTERMEDIARY)
    monkeypatch.setenv(
        SANDBOX_ENV,
        json.dumps(
            {
                "conn_type": "berichtenbox",
                "host": sandbox_server.base_url,
                "extra": {
                    "to_party_id": MIJNOVERHEID,
                    "client_cert": str(cert.cert),
                    "client_key": str(cert.key),
                    "ca_cert": str(sandbox_server.pki.ca),
                    "oin": INTERMEDIARY,
                    "timeout": 30,
                    "retries": 2,
                },
            }
        ),
    )
    return sandbox_server


def _received(sim: SimulatorHandle) -> int:
    """Messages of every kind the simulator's ebMS endpoint took in."""
    return len(sim.app.store.sent)


def _submit_sandbox(world, code: str, type_code: str, rows) -> int:
    return world.submit(code, type_code, rows, channel="api", external_ref=str(uuid.uuid4()),
                        submitted_by="api-key:testtest", sandbox=True)


def _test_key(world) -> str:
    key = api_keys.create_key(
        world.db,
        tenant_code=TENANT,
        operator=False,
        name="test system",
        created_by="test",
        kind="test",
    )
    world.db.commit()
    return key.key


def test_test_key_hand_in_goes_to_the_sandbox_and_closes(world, sandbox):
    """Through the real web service with a test key: the sandbox endpoint takes the batch
    and answers; the live adapter receives nothing; the submission closes with its counts
    and the tenant's outbox gets the result file."""
    from bbx.api.app import create_app

    c = world.connections["voorbeeld"]
    subscribed, not_in_register = bsns(3, seed=71), bsns(2, seed=72)
    world.subscribe(
        "voorbeeld", subscribed, theirs=False
    )  # our register; the live side knows nothing
    sandbox.admin.subscribe(
        c.oin, subscribed[:2], "2020-01-01"
    )  # the sandbox's citizens: two of three
    key = _test_key(world)
    with TestClient(create_app(), headers={"Accept-Language": "en"}) as client:
        answer = client.post(
            "/api/v1/connections/voorbeeld/messages",
            json={"message_type": "PASPRT", "bsns": subscribed + not_in_register},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "try-1"},
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["sandbox"] is True
        submission_id = answer.json()["id"]

        for old in world.outbox("voorbeeld").glob(
            "api.s*"
        ):  # the SFTP root outlives each test's database
            old.unlink()
        planned = deliver(world)
        assert planned["submissions"] == [submission_id]
        assert _received(world.sim) == 0  # the live adapter never saw it
        assert sum(sandbox.app.store.batch_ids.values()) == 1
        assert world.status(submission_id) == "closed"
        outcomes = world.outcomes(submission_id)
        assert {outcomes[b] for b in subscribed[:2]} == {("delivered", "Verwerkt")}
        assert outcomes[subscribed[2]] == ("not_subscribed", "NietActiefOfGeabonneerd")
        assert {outcomes[b] for b in not_in_register} == {("not_subscribed", "NotInRegister")}
        from bbx.store import register

        assert (
            register.open_doubts(world.db, c.id) == []
        )  # the sandbox's subscriptions are not MijnOverheid's
        world.db.commit()

        status = client.get(
            f"/api/v1/submissions/{submission_id}", headers={"Authorization": f"Bearer {key}"}
        )
        assert status.json()["status"] == "closed" and status.json()["sandbox"] is True
        assert status.json()["counts"]["delivered"] == 2 and status.json()["reconciled"] is True
    # the outbox folder is shared by the tests (api.s* of earlier ones is cleared above)
    files = sorted(p.name for p in world.outbox("voorbeeld").iterdir() if p.name.startswith("api.s")
                   and ".results" in p.name)
    assert files == [f"api.s{submission_id}.results.csv"]
    rows = read_csv(world.outbox("voorbeeld") / files[0])
    assert sorted(r["outcome"] for r in rows) == ["delivered"] * 2 + ["not_subscribed"] * 3


def test_live_submission_beside_a_sandbox_one_is_unaffected(world, sandbox):
    """The same connection, message type and BSNs: the live submission goes to the live
    adapter only, the sandbox one to the sandbox only; each is delivered once, and the
    sandbox hand-in never counts as an earlier hand-in of the live one."""
    people = bsns(3, seed=73)
    world.subscribe("voorbeeld", people)
    sandbox.admin.subscribe(world.connections["voorbeeld"].oin, people, "2020-01-01")
    test_sub = _submit_sandbox(world, "voorbeeld", "PASPRT", rows_for(people))
    live_sub = world.submit(
        "voorbeeld", "PASPRT", rows_for(people), channel="api", external_ref="live-1"
    )

    deliver(world)
    assert world.counts(test_sub)["delivered"] == 3 and world.counts(live_sub)["delivered"] == 3
    live_batches = set(world.sim.app.store.batch_ids)
    sandbox_batches = set(sandbox.app.store.batch_ids)
    ids = {
        r["id"]: r["submission_id"]
        for r in world.db.execute("SELECT id::text, submission_id FROM batches")
    }
    world.db.commit()
    assert {ids[b] for b in live_batches} == {live_sub}
    assert {ids[b] for b in sandbox_batches} == {test_sub}


def test_a_miswired_transport_is_refused_before_anything_is_sent(world, sandbox):
    """A hook factory that hands a sandbox batch the live adapter: the guard at the last
    step refuses the batch (audited), the live endpoint receives nothing, the batch stays
    unsent."""
    people = bsns(2, seed=74)
    world.subscribe("voorbeeld", people)
    submission_id = _submit_sandbox(world, "voorbeeld", "PASPRT", rows_for(people))
    from bbx.delivery import plan

    planned = plan.plan_run("run-miswired", max_map_length=1024, url=world.url)
    batch_ids = [b for s in planned["slices"] for b in s["batch_ids"]]
    miswired = send.Hooks(
        sandbox_factory=lambda cpa_id, oin: BerichtenboxHook.for_connection("voorbeeld")
    )
    summary = send.send_batches(batch_ids, hooks=miswired, url=world.url)

    assert summary.outcomes == {"refused": 1} and "sandbox" in summary.refused[0]
    assert _received(world.sim) == 0 and _received(sandbox) == 0
    row = world.db.execute(
        "SELECT status, last_error FROM batches WHERE id = %s", (batch_ids[0],)
    ).fetchone()
    audit = world.db.execute(
        "SELECT details FROM audit_log WHERE action = 'delivery.wrong_transport'"
        " AND submission_id = %s",
        (submission_id,),
    ).fetchone()
    world.db.commit()
    assert row["status"] == "planned" and "live transport" in row["last_error"]
    assert audit["details"]["transport"] == "live"


def test_a_sandbox_result_never_touches_a_live_batch(world, sandbox):
    """A result read from the sandbox for a live batch (a sandbox that echoes BatchIDs it
    should not know) is ignored: the live messages keep their state."""
    from bbx.domain import globe
    from bbx.store import results as result_store

    people = bsns(2, seed=75)
    world.subscribe("voorbeeld", people)
    live_sub = world.submit(
        "voorbeeld", "PASPRT", rows_for(people), channel="api", external_ref="live-2"
    )
    from bbx.delivery import plan

    plan.plan_run("run-live", max_map_length=1024, url=world.url)
    batch = world.db.execute(
        "SELECT id::text FROM batches WHERE submission_id = %s", (live_sub,)
    ).fetchone()["id"]
    ids = [
        r["message_id"]
        for r in world.db.execute(
            "SELECT message_id::text FROM messages WHERE submission_id = %s", (live_sub,)
        )
    ]
    fake = globe.BatchResult(
        batch_id=batch,
        supplier_code="x",
        total_received=2,
        succeeded=2,
        not_subscribed=0,
        technical_problem=0,
        message_type_incorrect=0,
        publication_date_incorrect=0,
        creation_date_incorrect=0,
        received_at=None,
        processed_at=None,
        messages=tuple(globe.MessageResult(i, "PASPRT", "Verwerkt", "NA") for i in ids),
    )
    recorded = result_store.record_result(
        world.db,
        connection_id=world.connections["voorbeeld"].id,
        ebms_message_id="sandbox-echo",
        payload_sha256="0" * 64,
        result=fake,
        max_attempts=3,
        sandbox=True,
    )
    world.db.commit()
    assert recorded.known_batch is False
    assert world.counts(live_sub).get("delivered", 0) == 0


def test_no_sandbox_configured_refuses_a_test_key_at_hand_in(world, monkeypatch):
    """Without bbx_berichtenbox_sandbox a test key's send is refused at once (409, in the
    tenant's language, audited) and nothing is handed in; a live key still sends."""
    from bbx.api.app import create_app

    monkeypatch.delenv(SANDBOX_ENV, raising=False)
    key = _test_key(world)
    live = api_keys.create_key(
        world.db, tenant_code=TENANT, operator=False, name="live", created_by="test"
    )
    world.db.commit()
    body = {"message_type": "PASPRT", "bsns": bsns(2, seed=76)}
    with TestClient(create_app()) as client:
        refused = client.post(
            "/api/v1/connections/voorbeeld/messages",
            json=body,
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k1"},
        )
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "sandbox_not_configured"
        assert "testsleutel" in refused.json()["error"]["message"]  # Dutch by default
        sent = client.post(
            "/api/v1/connections/voorbeeld/messages",
            json=body,
            headers={"Authorization": f"Bearer {live.key}", "Idempotency-Key": "k1"},
        )
        assert sent.status_code == 201 and sent.json()["sandbox"] is False
    n = world.db.execute("SELECT count(*) AS n FROM submissions WHERE sandbox").fetchone()["n"]
    audit = world.db.execute(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'submission.refused'"
        " AND reason LIKE 'sandbox_not_configured%%'"
    ).fetchone()["n"]
    world.db.commit()
    assert n == 0 and audit == 1


def test_the_results_trigger_polls_the_sandbox_for_sandbox_submissions(world, sandbox):
    """The deferrable wait asks the sandbox (not the live adapter) whether a sandbox
    submission's results wait, and keeps that across serialisation."""
    from bbx.delivery import plan
    from bbx.triggers.results import BerichtenboxResultsTrigger

    people = bsns(1, seed=77)
    world.subscribe("voorbeeld", people)
    sandbox.admin.subscribe(world.connections["voorbeeld"].oin, people, "2020-01-01")
    submission_id = _submit_sandbox(world, "voorbeeld", "PASPRT", rows_for(people))
    planned = plan.plan_run("run-trigger", max_map_length=1024, url=world.url)
    send.send_batches(planned["slices"][0]["batch_ids"], url=world.url)
    [row] = results.open_submissions([submission_id], url=world.url)
    c = world.connections["voorbeeld"]
    assert (row["sandbox"], row["cpa_id"], row["oin"].strip()) == (True, c.cpa_id, c.oin)

    trigger = BerichtenboxResultsTrigger(
        submission_ids=[submission_id],
        connection_codes=[],
        deadline="2999-01-01T00:00:00+00:00",
        sandbox_connections=[["voorbeeld", c.cpa_id, c.oin]],
    )
    classpath, kwargs = trigger.serialize()
    again = BerichtenboxResultsTrigger(**kwargs)
    assert again.sandbox_connections == [("voorbeeld", c.cpa_id, c.oin)]
    assert again._results_waiting("voorbeeld", (c.cpa_id, c.oin)) is True
    assert again._results_waiting("voorbeeld") is False  # nothing waits at the live adapter
