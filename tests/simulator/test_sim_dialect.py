"""GLOBE-R-BV-Result in two dialects: as documented (the official XSD) and as a live
ebms-core deployment sends it (timestamps in Z, VerwerkingsCode 00 for processed)."""

from __future__ import annotations

import copy
import re

import pytest
from lxml import etree
from sim_helpers import official_response_schema, send, wait_for_inbound

from simulator.__main__ import build_parser, config_from_args
from simulator.config import ConfigError, SimulatorConfig
from simulator.samples import SampleBericht, batch_xml
from simulator.testing import SENDER_A, SENDER_B

NS_BATCH = "http://schemas.rdw.nl/GEB/BerichtVerwerkService/Types/2009/01"
NS_RESULT = "http://schemas.rdw.nl/GEB/BerichtVerwerkService/BerichtResultaat/Types/2009/01"


def _result(simulator, oin: str = SENDER_A) -> etree._Element:
    """Send a batch of 3 subscribed + 1 unsubscribed + 1 too large message; the result."""
    client = simulator.ebms_client(oin)
    active = simulator.admin.sample(oin, "active", 4)
    (inactive,) = simulator.admin.sample(oin, "inactive", 1)
    berichten = [SampleBericht(b) for b in active[:3]]
    berichten += [SampleBericht(inactive), SampleBericht(active[3], attachments=[b"x" * 500_001])]
    message_id = send(client, batch_xml(berichten, oin), oin=oin)
    (message,) = wait_for_inbound(client, message_id)
    client.processMessage(messageId=message.properties.messageId)
    return etree.fromstring(message.dataSource[0].content)


def _sender(simulator, oin: str) -> dict:
    return next(s for s in simulator.admin.senders() if s["oin"] == oin)


def _codes(root: etree._Element) -> list[str]:
    return [b.findtext("VerwerkingsCode") for b in root.find("Berichten")]


def _info(root: etree._Element) -> dict[str, str]:
    return {child.tag: child.text for child in root.find("BatchInformatie")}


def test_documented_dialect_is_the_default_and_validates_against_the_official_xsd(simulator):
    assert simulator.admin.config()["result_dialect"] == "documented"
    root = _result(simulator)
    assert official_response_schema().validate(root)
    assert root.tag == f"{{{NS_BATCH}}}BerichtVerwerkResponse"
    assert {b.tag for b in root.find("Berichten")} == {f"{{{NS_RESULT}}}Bericht"}
    assert _codes(root) == ["Verwerkt"] * 3 + ["NietActiefOfGeabonneerd", "BijlageTeGroot"]
    assert re.search(r"[+-]\d\d:\d\d$", _info(root)["DatumOntvangen"])  # Dutch offset


def test_live_dialect_per_sender_at_run_time(simulator):
    simulator.admin.set_result_dialect(SENDER_A, "live")
    assert _sender(simulator, SENDER_A)["result_dialect"] == "live"
    root = _result(simulator)

    # qualified root, Bericht in the BerichtResultaat namespace, unqualified children
    assert root.tag == f"{{{NS_BATCH}}}BerichtVerwerkResponse"
    assert root.find("BatchInformatie") is not None and root.find("Berichten") is not None
    assert {b.tag for b in root.find("Berichten")} == {f"{{{NS_RESULT}}}Bericht"}
    info = _info(root)
    assert info["DatumOntvangen"].endswith("Z") and info["DatumVerwerkt"].endswith("Z")
    # 00 exactly for the messages AantalBerichtenSuccesvolVerwerkt counts; others as named
    codes = _codes(root)
    assert codes == ["00"] * 3 + ["NietActiefOfGeabonneerd", "BijlageTeGroot"]
    assert info["AantalBerichtenSuccesvolVerwerkt"] == "3" == str(codes.count("00"))
    assert info["TotaalAantalOntvangenBerichten"] == "5"

    # The live dialect does NOT validate against the official XSD: "00" is not in the
    # VerwerkingsCode enumeration. That is the only deviation: with "Verwerkt" put back,
    # the same document validates.
    schema = official_response_schema()
    assert not schema.validate(root)
    errors = list(schema.error_log)
    assert errors and all("VerwerkingsCode" in e.message and "'00'" in e.message for e in errors)
    repaired = copy.deepcopy(root)
    for code in repaired.iter("VerwerkingsCode"):
        if code.text == "00":
            code.text = "Verwerkt"
    assert schema.validate(repaired), schema.error_log

    # the other sender keeps the simulator's default
    other = _result(simulator, SENDER_B)
    assert _codes(other)[:3] == ["Verwerkt"] * 3 and official_response_schema().validate(other)

    # back to the simulator's setting
    simulator.admin.set_result_dialect(SENDER_A, None)
    assert _codes(_result(simulator))[:3] == ["Verwerkt"] * 3


def test_live_result_without_processed_messages_validates(simulator):
    simulator.admin.settings(result_dialect="live")
    client = simulator.ebms_client(SENDER_A)
    (inactive,) = simulator.admin.sample(SENDER_A, "inactive", 1)
    message_id = send(client, batch_xml([SampleBericht(inactive)], SENDER_A))
    (message,) = wait_for_inbound(client, message_id)
    root = etree.fromstring(message.dataSource[0].content)
    assert _codes(root) == ["NietActiefOfGeabonneerd"]
    assert _info(root)["DatumVerwerkt"].endswith("Z")
    assert official_response_schema().validate(root)  # no "00": the XSD accepts it


def test_the_simulators_default_dialect_at_run_time_and_after_reset(simulator):
    simulator.admin.settings(result_dialect="live")
    assert _codes(_result(simulator, SENDER_B))[:3] == ["00"] * 3
    simulator.admin.set_result_dialect(SENDER_B, "documented")  # a sender's own setting wins
    assert _codes(_result(simulator, SENDER_B))[:3] == ["Verwerkt"] * 3
    with pytest.raises(RuntimeError, match="result_dialect"):
        simulator.admin.settings(result_dialect="xml")
    with pytest.raises(RuntimeError, match="result_dialect"):
        simulator.admin.set_result_dialect(SENDER_A, "Live")
    simulator.reset()
    assert simulator.admin.config()["result_dialect"] == "documented"
    assert _sender(simulator, SENDER_B)["result_dialect"] is None


def test_result_dialect_on_the_command_line_and_in_the_config_file(tmp_path):
    args = build_parser().parse_args(["--result-dialect", "live", "--sender", SENDER_A])
    assert config_from_args(args).result_dialect == "live"
    assert config_from_args(build_parser().parse_args([])).result_dialect == "documented"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--result-dialect", "xml"])
    config = SimulatorConfig.from_dict(
        {"senders": [{"oin": SENDER_A, "result_dialect": "live"}], "result_dialect": "documented"}
    )
    assert config.senders[0].result_dialect == "live"
    with pytest.raises(ConfigError, match="must be one of documented, live"):
        SimulatorConfig.from_dict({"result_dialect": "zulu"})
