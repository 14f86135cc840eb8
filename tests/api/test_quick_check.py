"""The manual page's "subscribed?" quick check through the real BerichtenboxHook against the
simulator over mutual TLS (ValidateAbonnementen), next to BBX's own register."""

from __future__ import annotations

import json
import re

from api_helpers import form, seed_register, sign_in

from simulator.testing import SENDER_A, simulator, simulator_pki, simulator_server  # noqa: F401


def test_quick_check_at_mijnoverheid(client, keys, configured, simulator, monkeypatch):  # noqa: F811
    # the simulator knows connection 'voorbeeld' (OIN SENDER_A) under its sender code GMVOORB
    simulator.admin.add_sender(SENDER_A, ["PASPRT", "WOZ2026"], sender_code="GMVOORB")
    pair = simulator.cert(SENDER_A)
    extra = {"cpa_id": simulator.sender(SENDER_A).cpa_id, "from_party_id": f"urn:osb:oin:{SENDER_A}",
             "client_cert": str(pair.cert), "client_key": str(pair.key), "ca_cert": str(simulator.pki.ca),
             "validatie_url": simulator.validatie_url, "timeout": 10, "retries": 1}
    monkeypatch.setenv("AIRFLOW_CONN_BERICHTENBOX_VOORBEELD",
                       json.dumps({"conn_type": "berichtenbox", "host": simulator.base_url, "extra": extra}))
    [active] = simulator.admin.sample(SENDER_A, status="active", limit=1)
    [never] = simulator.admin.sample(SENDER_A, status="never", limit=1)
    from datetime import date

    seed_register(configured, "voorbeeld", [(never, date(2025, 1, 1), None)])  # our register disagrees

    sign_in(client, keys.a)
    page = client.post("/send", data=form(client, message_type="voorbeeld/PASPRT", bsns=f"{active}\n{never}",
                                           action="check"))
    assert page.status_code == 200, page.text[-2000:]
    table = page.text[page.text.index("Subscriptions of these BSNs"):]
    assert "Checked at MijnOverheid just now" in table
    assert re.search(rf"{active}</code></td>\s*<td>no: will not be sent</td>\s*<td>yes</td>", table)
    assert re.search(rf"{never}</code></td>\s*<td>yes</td>\s*<td>no</td>", table)
