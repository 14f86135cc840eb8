"""The web service's and pages' CSV downloads are formula-safe (issue 19): every cell is
checked with the OWASP rule; BSNs, numbers and dates are unchanged; ``csvfile.unguard``
gives the raw value back. (API CSVs stay RFC 4180: ',' separated.)"""

from __future__ import annotations

import csv
import io
import re

from api_helpers import auth, bsns, send, set_outcomes

from bbx.domain import csvfile

NUMBER = re.compile(r"[+-]?(\d+([.,]\d+)?|[.,]\d+)")


def _cells(response) -> list[dict]:
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.text)))
    for r, row in enumerate(rows, 1):
        for cell in row:
            assert not cell or cell[0] not in "=+-@\t\r" or NUMBER.fullmatch(cell), (r, cell)
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_downloads_guard_formula_cells(client, keys, configured):
    targets = bsns(3, seed=51)
    response = send(client, keys.a, message_type="WOZ2026", bsns=targets, text="tekst", reference="=1+1")
    assert response.status_code == 201, response.text
    sid = response.json()["id"]
    set_outcomes(configured, sid, {1: ("failed", "@code", "-minus: =HYPERLINK(\"x\")"),
                                   2: ("delivered", "Verwerkt", None), 3: ("not_subscribed", "register", "+plus")})
    url = f"/api/v1/submissions/{sid}/messages"
    for params in ({"format": "csv"}, {"format": "csv", "limit": 10}):  # streamed and paged
        rows = _cells(client.get(url, headers=auth(keys.a), params=params))
        assert [r["bsn"] for r in rows] == targets
        assert {csvfile.unguard(r["reference"]) for r in rows} == {"=1+1"}
        assert rows[0]["reference"] == "'=1+1" and rows[0]["outcome_code"] == "'@code"
        assert csvfile.unguard(rows[0]["outcome_reason"]) == "-minus: =HYPERLINK(\"x\")"
        assert csvfile.unguard(rows[2]["outcome_reason"]) == "+plus"
    reports = {report: _cells(client.get(f"/api/v1/connections/voorbeeld/reports/{report}", headers=auth(keys.a),
                                         params={"format": "csv"}))  # this month: today's messages
               for report in ("sent", "undelivered")}
    assert {csvfile.unguard(r["reason"]) for r in reports["undelivered"]} == {"-minus: =HYPERLINK(\"x\")", "+plus"}
    log = _cells(client.get("/api/v1/submissions", headers=auth(keys.a), params={"format": "csv"}))
    assert log and all(r["submitted_by"] for r in log)
