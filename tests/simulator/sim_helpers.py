"""Helpers shared by the simulator's tests (a module with a unique name, so test files
can import it: tests are collected without packages)."""

from __future__ import annotations

import time

from simulator.testing import SENDER_A

SERVICE = "urn:osb:services:MIJNOVERHEID.ebMS.BB.2.0"
MIJNOVERHEID = "urn:osb:oin:00000001800866472000"


def properties(oin: str = SENDER_A, action: str = "GLOBE-R-BV-Request", **overrides) -> dict:
    """ebMS sendMessage properties as BBX sends them for ``oin``'s connection."""
    props = {
        "cpaId": f"cpa-{oin}",
        "fromPartyId": f"urn:osb:oin:{oin}",
        "fromRole": "SR",
        "toPartyId": MIJNOVERHEID,
        "toRole": "SP",
        "service": SERVICE,
        "action": action,
    }
    props.update(overrides)
    return {k: v for k, v in props.items() if v is not None}


def send(
    client, payload: bytes, oin: str = SENDER_A, action: str = "GLOBE-R-BV-Request", **overrides
) -> str:
    """sendMessage through a zeep client; returns the ebMS messageId."""
    return client.sendMessage(
        message={
            "properties": properties(oin, action, **overrides),
            "dataSource": [
                {"name": "payload.xml", "contentType": "application/xml", "content": payload}
            ],
        }
    )


def wait_for_inbound(client, ref_to: str, count: int = 1, timeout: float = 10.0) -> list:
    """Poll getUnprocessedMessageIds until ``count`` messages answering ``ref_to`` are
    there; returns them (via getMessage), without processing them."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for message_id in client.getUnprocessedMessageIds() or []:
            message = client.getMessage(messageId=message_id)
            if message.properties.refToMessageId == ref_to:
                found.append(message)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def result_of(message) -> tuple[dict[str, str], dict[str, str]]:
    """(BatchInformatie fields, {BerichtID: VerwerkingsCode}) of a GLOBE-R-BV-Result."""
    from lxml import etree

    root = etree.fromstring(message.dataSource[0].content)
    info = {child.tag: child.text for child in root.find("BatchInformatie")}
    codes = {b.findtext("BerichtID"): b.findtext("VerwerkingsCode") for b in root.find("Berichten")}
    return info, codes


def official_response_schema():
    from simulator.config import DEFAULT_LOGIUS_DIR
    from simulator.schemas import GLOBE_RESPONSE, load_official_xsd

    return load_official_xsd(DEFAULT_LOGIUS_DIR, GLOBE_RESPONSE)
