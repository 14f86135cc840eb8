"""Inspection for tests: every BerichtID with its count and outcomes, and what each
citizen's box holds, so a test can prove "each message exactly once in the box"."""

from __future__ import annotations

from sim_helpers import send, wait_for_inbound

from simulator.samples import SampleBericht, batch_xml
from simulator.testing import SENDER_A


def test_duplicates_are_counted_and_the_box_holds_each_message_once(simulator, ebms):
    bsns = simulator.admin.sample(SENDER_A, "active", 3)
    berichten = [SampleBericht(b) for b in bsns]
    for _ in range(3):  # the same batch three times (a BBX bug, or retries)
        message_id = send(ebms, batch_xml(berichten, SENDER_A))
    wait_for_inbound(ebms, message_id)

    for bericht in berichten:
        seen = simulator.admin.bericht(bericht.bericht_id)
        assert seen["count"] == 3
        assert seen["outcomes"] == ["Verwerkt", "BerichtBestaatAl", "BerichtBestaatAl"]
        assert seen["delivered"] and seen["in_box_count"] == 1
        box = simulator.admin.box(bericht.bsn)
        assert [m["bericht_id"] for m in box] == [bericht.bericht_id]
        assert box[0]["sender_oin"] == SENDER_A and box[0]["bericht_type"] == "UPO2026"

    duplicates = simulator.admin.duplicates()
    assert set(duplicates) == {b.bericht_id for b in berichten}
    stats = simulator.admin.stats()
    assert stats["messages_received"] == 9
    assert stats["unique_bericht_ids"] == 3
    assert stats["bericht_ids_received_more_than_once"] == 3
    assert stats["delivered"] == 3
    assert stats["codes"] == {"Verwerkt": 3, "BerichtBestaatAl": 6}
    assert len(simulator.admin.berichten()) == 3


def test_batches_and_inbound_are_listed(simulator, ebms):
    bsn = simulator.admin.sample(SENDER_A, "active", 1)[0]
    message_id = send(
        ebms,
        batch_xml([SampleBericht(bsn)], SENDER_A, batch_id="11111111-2222-3333-4444-555555555555"),
    )
    wait_for_inbound(ebms, message_id)
    (batch,) = simulator.admin.batches()
    assert batch["batch_id"] == "11111111-2222-3333-4444-555555555555"
    assert batch["ebms_message_id"] == message_id and batch["codes"] == {"Verwerkt": 1}
    (inbound,) = simulator.admin.inbound()
    assert inbound["message_id"] == batch["result_message_ids"][0]
    assert inbound["ref_to_message_id"] == message_id and not inbound["processed"]


def test_unknown_bericht_and_empty_box(simulator):
    assert simulator.admin.bericht("00000000-0000-0000-0000-000000000001") is None
    assert simulator.admin.box("249566758") == []


def test_reset_forgets_state(simulator, ebms):
    bsn = simulator.admin.sample(SENDER_A, "active", 1)[0]
    send(ebms, batch_xml([SampleBericht(bsn)], SENDER_A))
    simulator.admin.set_faults(http_500_rate=0.5)
    simulator.admin.reset()
    assert simulator.admin.stats()["messages_received"] == 0
    assert simulator.admin.faults()["http_500_rate"] == 0.0


def test_senders_can_be_registered_at_run_time(simulator):
    oin = "00000001005555555000"
    cert = simulator.issue_client_cert(oin)
    assert cert.cert.is_file()
    created = simulator.admin.add_sender(
        oin, ["NIEUW"], cpa_id="cpa-nieuw", population={"seed": 9, "size": 50}
    )
    assert created["party_id"] == f"urn:osb:oin:{oin}"
    client = simulator.ebms_client(oin)
    bsn = simulator.admin.sample(oin, "active", 1)[0]
    message_id = send(
        client,
        batch_xml([SampleBericht(bsn, bericht_type="NIEUW")], oin),
        oin=oin,
        cpaId="cpa-nieuw",
    )
    (result,) = wait_for_inbound(client, message_id)
    assert b"<VerwerkingsCode>Verwerkt</VerwerkingsCode>" in result.dataSource[0].content
    assert simulator.admin.remove_sender(oin) == {"removed": oin}


def test_admin_errors_are_clear(simulator):
    import pytest

    with pytest.raises(RuntimeError, match="404"):
        simulator.admin.sample("00000000000000000000")
    with pytest.raises(RuntimeError, match="20 digits"):
        simulator.admin.add_sender("123", ["X"])
    with pytest.raises(RuntimeError, match="1-8 characters"):
        simulator.admin.add_sender("00000001005555555000", ["TOOLONGCODE"])


def test_register_senders_from_a_tenant_file(simulator, tmp_path):
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(
        "tenants:\n  - code: t\n    connections:\n      - code: c\n        oin: '00000003123456780000'\n"
        "        cpa_id: cpa-pf\n        sender_code: PFMETAAL\n        message_types: [{code: UPO2026}]\n"
    )
    assert simulator.register_tenants(tenants) == ["00000003123456780000"]
    client = simulator.ebms_client("00000003123456780000")
    client.ping(
        cpaId="cpa-pf",
        fromPartyId="urn:osb:oin:00000003123456780000",
        toPartyId="urn:osb:oin:00000001800866472000",
    )
    assert simulator.admin.senders()[-1]["sender_code"] == "PFMETAAL"
