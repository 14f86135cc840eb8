"""Every VerwerkingsCode of a GLOBE-R-BV-Result, with counts that add up."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from lxml import etree
from sim_helpers import official_response_schema, result_of, send, wait_for_inbound

from simulator.clock import TZ
from simulator.config import DEFAULT_LOGIUS_DIR
from simulator.samples import SampleBericht, batch_xml
from simulator.testing import SENDER_A, SENDER_B

COUNTERS = {
    "AantalBerichtenSuccesvolVerwerkt": "Verwerkt",
    "AantalBerichtenGeenActieveBoxOfGeabonneertOpLeverancier": "NietActiefOfGeabonneerd",
    "AantalBerichtenMetTechnischProbleem": "TechnischProbleem",
    "AantalBerichtenBerichtTypeNietCorrect": "BerichtTypeNietOndersteund",
    "AantalBerichtenPublicatieDatumNietCorrect": "PublicatieDatumLigtTeVerInDeToekomst",
    "AantalBerichtenAanmaakDatumNietCorrect": "AanmaakDatumLigtTeVerInHetVerleden",
}


def deliver(simulator, ebms, payload: bytes, check_counts: bool = True) -> tuple[dict, dict]:
    message_id = send(ebms, payload)
    (result,) = wait_for_inbound(ebms, message_id)
    assert official_response_schema().validate(etree.fromstring(result.dataSource[0].content))
    ebms.processMessage(messageId=result.properties.messageId)
    info, codes = result_of(result)
    if check_counts:
        assert_counts_add_up(info, codes)
    return info, codes


def assert_counts_add_up(info: dict, codes: dict) -> None:
    assert int(info["TotaalAantalOntvangenBerichten"]) == len(codes)
    for counter, code in COUNTERS.items():
        assert int(info[counter]) == sum(1 for c in codes.values() if c == code), counter


def test_per_message_codes_in_one_batch(simulator, ebms):
    active = simulator.admin.sample(SENDER_A, "active", 6)
    never = simulator.admin.sample(SENDER_A, "never", 1)
    inactive = simulator.admin.sample(SENDER_A, "inactive", 2)
    now = datetime.now(TZ)
    already = SampleBericht(active[5])
    deliver(simulator, ebms, batch_xml([already], SENDER_A))  # first time: Verwerkt

    berichten = {
        "Verwerkt": SampleBericht(active[0], publicatie=now + timedelta(days=12)),
        "NietActiefOfGeabonneerd": SampleBericht(never[0]),
        "BerichtTypeNietOndersteund": SampleBericht(active[1], bericht_type="ONBEKEND"),
        "PublicatieDatumLigtTeVerInDeToekomst": SampleBericht(
            active[2], publicatie=now + timedelta(days=14)
        ),
        "BijlageTeGroot": SampleBericht(
            active[3], attachments=[b"%PDF" * 100_000, b"%PDF" * 40_000]
        ),
        "BerichtBestaatAl": already,
    }
    extra = [
        ("NietActiefOfGeabonneerd", SampleBericht(inactive[0])),
        ("NietActiefOfGeabonneerd", SampleBericht(inactive[1])),
        ("Verwerkt", SampleBericht(active[4], attachments=[b"%PDF" * 60_000, b"%PDF" * 60_000])),
    ]
    all_berichten = list(berichten.items()) + extra
    _, codes = deliver(simulator, ebms, batch_xml([b for _, b in all_berichten], SENDER_A))
    for expected, bericht in all_berichten:
        assert codes[bericht.bericht_id] == expected, expected


def test_attachment_limit_is_500_000_bytes_before_base64(simulator, ebms):
    # Written out, not read from simulator.logius: this test pins the strict reading of
    # "500 kB" (SI kilo), so changing the module alone cannot move the limit unnoticed.
    active = simulator.admin.sample(SENDER_A, "active", 3)
    at_limit = SampleBericht(active[0], attachments=[b"x" * 500_000])
    over = SampleBericht(active[1], attachments=[b"x" * 499_999, b"y" * 2])
    pair = SampleBericht(active[2], attachments=[b"p" * 250_500, b"q" * 250_500])  # 501,000
    _, codes = deliver(simulator, ebms, batch_xml([at_limit, over, pair], SENDER_A))
    assert codes == {
        at_limit.bericht_id: "Verwerkt",
        over.bericht_id: "BijlageTeGroot",
        pair.bericht_id: "BijlageTeGroot",
    }


def test_aanmaakdatum_too_far_back_applies_to_the_whole_batch(simulator, ebms):
    active = simulator.admin.sample(SENDER_A, "active", 2)
    old = datetime.now(TZ) - timedelta(days=13, hours=1)
    recent = datetime.now(TZ) - timedelta(days=12, hours=23)
    info, codes = deliver(
        simulator, ebms, batch_xml([SampleBericht(b) for b in active], SENDER_A, aanmaak=old)
    )
    assert set(codes.values()) == {"AanmaakDatumLigtTeVerInHetVerleden"}
    assert info["AantalBerichtenAanmaakDatumNietCorrect"] == "2"
    _, codes = deliver(
        simulator, ebms, batch_xml([SampleBericht(active[0])], SENDER_A, aanmaak=recent)
    )
    assert set(codes.values()) == {"Verwerkt"}


def test_oin_in_batch_must_be_the_cpa_oin(simulator, ebms):
    active = simulator.admin.sample(SENDER_A, "active", 2)
    info, codes = deliver(simulator, ebms, batch_xml([SampleBericht(b) for b in active], SENDER_B))
    assert set(codes.values()) == {"OinInCPAKomtNietOvereenMetOinInBericht"}
    assert info["BerichtLeverancierCode"] == SENDER_B
    assert info["TotaalAantalOntvangenBerichten"] == "2"
    assert simulator.admin.stats()["delivered"] == 0


def test_a_batch_breaking_the_official_xsd_is_rejected_whole(simulator, ebms):
    active = simulator.admin.sample(SENDER_A, "active", 2)
    good = SampleBericht(active[0])
    bad = SampleBericht(active[1], onderwerp="x" * 51)  # Onderwerp max 50
    info, codes = deliver(simulator, ebms, batch_xml([good, bad], SENDER_A))
    assert codes == {
        good.bericht_id: "XmlValidatieTegenXsdValtNegatiefUit",
        bad.bericht_id: "XmlValidatieTegenXsdValtNegatiefUit",
    }
    assert info["AantalBerichtenSuccesvolVerwerkt"] == "0"
    batch = simulator.admin.batches()[-1]
    assert "Onderwerp" in batch["xsd_errors"][0]
    assert simulator.admin.box(active[0]) == []


def test_the_official_example_batch_fails_the_official_xsd(simulator, ebms):
    """Logius's example is a template with placeholders; it does not validate. Its one
    message counts in the total, but its BerichtID "berichtId1" is no GUID, so the
    result (whose schema demands GUIDs) cannot list it."""
    example = (Path(DEFAULT_LOGIUS_DIR) / "examples" / "GLOBE-R-BV-Request.xml").read_bytes()
    info, codes = deliver(simulator, ebms, example, check_counts=False)
    assert codes == {}
    assert info["TotaalAantalOntvangenBerichten"] == "1"
    assert info["BatchID"] == "00000000-0000-0000-0000-000000000000"
    assert simulator.admin.batches()[-1]["codes"] == {"XmlValidatieTegenXsdValtNegatiefUit": 1}
    assert simulator.admin.bericht("berichtId1")["outcomes"] == [
        "XmlValidatieTegenXsdValtNegatiefUit"
    ]


def test_not_well_formed_xml(simulator, ebms):
    info, codes = deliver(simulator, ebms, b"<Berichten><oops></Berichten>")
    assert codes == {} and info["TotaalAantalOntvangenBerichten"] == "0"
    assert "well-formed" in simulator.admin.batches()[-1]["xsd_errors"][0]


def test_technisch_probleem_is_not_delivered_and_a_resend_is(simulator, ebms):
    bsn = simulator.admin.sample(SENDER_A, "active", 1)[0]
    bericht = SampleBericht(bsn)
    simulator.admin.set_faults(next_technisch_probleem=1)
    info, codes = deliver(simulator, ebms, batch_xml([bericht], SENDER_A))
    assert codes == {bericht.bericht_id: "TechnischProbleem"}
    assert info["AantalBerichtenMetTechnischProbleem"] == "1"
    assert simulator.admin.box(bsn) == []
    _, codes = deliver(simulator, ebms, batch_xml([bericht], SENDER_A))  # same BerichtID
    assert codes == {bericht.bericht_id: "Verwerkt"}
    assert [m["bericht_id"] for m in simulator.admin.box(bsn)] == [bericht.bericht_id]


def test_subscription_is_judged_on_the_simulated_day(simulator, ebms):
    bsn = simulator.admin.sample(SENDER_A, "inactive", 1)[0]
    signup = date.fromisoformat(
        simulator.admin.subscription(SENDER_A, bsn)["next_change"]
    ).toordinal()
    day_before = date.fromordinal(signup - 1)
    simulator.admin.set_today(day_before)
    aanmaak = datetime.combine(day_before, datetime.now(TZ).timetz())
    first = SampleBericht(bsn)
    _, codes = deliver(simulator, ebms, batch_xml([first], SENDER_A, aanmaak=aanmaak))
    assert codes[first.bericht_id] == "NietActiefOfGeabonneerd"
    simulator.admin.set_today(date.fromordinal(signup))
    _, codes = deliver(
        simulator, ebms, batch_xml([first], SENDER_A, aanmaak=aanmaak + timedelta(days=1))
    )
    assert codes[first.bericht_id] == "Verwerkt"
