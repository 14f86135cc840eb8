"""The tour's web-service part for fill-in templates and standard texts (issue 18), as a
tenant's integration would use them: upload a standard text with ``((placeholders))``
(``PUT …/standard-text`` → a new version), send letters with per-row ``values`` (a row
without a value is refused naming the placeholder; the good rows go), and read back which
version every message used. Called from :func:`bbx.demo.tour.run`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from bbx.demo.tour_common import CONNECTION, OIN, TYPE, send

# PENSBRF has no standard text in the sample configuration: a template there changes no
# other demo letter (UPO2026's drops carry no values), and a personal text still wins.
TEMPLATE = ("Beste ((naam)),\n\nUw pensioen gaat in op ((ingangsdatum)).((heeft_partner??"
            " Uw partner krijgt hierover een eigen brief.))\n\nMet vriendelijke groet,\nPensioenfonds Metaal\n"
            "(tour {stamp})")


def run(tour, client) -> None:
    """The whole part: upload, fill in, and the version on the messages (recorded at hand-in;
    their delivery goes on while the tour does the rest)."""
    bsns = tour.citizens(CONNECTION, OIN, "active", 3)
    version = upload_template(tour, client)
    versions_recorded(tour, client, tour.status(client, fill_in(tour, client, bsns)), version)


def upload_template(tour, client) -> int:
    """A standard text uploaded through the API: the answer's newest version is it."""
    text = TEMPLATE.format(stamp=f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}")
    path = f"/connections/{CONNECTION}/message-types/{TYPE}/standard-text"
    before = client.get(path).raise_for_status().json()["current"]
    answer = client.put(path, content=text.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
    body = answer.json() if answer.status_code == 200 else {}
    newest = (body.get("versions") or [{}])[0]
    stored = (newest.get("text") or "").replace("\r\n", "\n")  # the text rules store CR LF
    ok = answer.status_code == 200 and body["current"] == before + 1 and stored == text and newest.get("source") == "api"
    tour.check("standard text upload / web service", ok,
               f"HTTP {answer.status_code}, {TYPE} version {before} -> {body.get('current')}, "
               f"source {newest.get('source')}")
    return body.get("current", 0)


def fill_in(tour, client, bsns: list[str]) -> int:
    """Letters filled per row; a row lacking a value refuses the call naming the
    placeholder (nothing handed in), the same rows without it go. Returns the submission."""
    rows = [{"bsn": bsns[0], "values": {"naam": "mevrouw De Vries", "ingangsdatum": "1 maart 2027",
                                        "heeft_partner": "ja"}},
            {"bsn": bsns[1], "values": {"naam": "de heer Bakker", "ingangsdatum": "1 juli 2027",
                                        "heeft_partner": "nee"}},
            {"bsn": bsns[2], "values": {"naam": "mevrouw Visser", "heeft_partner": "nee"}}]  # no ingangsdatum
    refused = client.post(f"/connections/{CONNECTION}/messages", json={"message_type": TYPE, "messages": rows},
                          headers={"Idempotency-Key": uuid.uuid4().hex})
    error = refused.json().get("error", {}) if refused.status_code == 422 else {}
    details = error.get("details") or []
    named = [d for d in details if d.get("position") == 3 and d.get("code") == "placeholder_missing"]
    tour.check("fill-in: missing value / web service",
               refused.status_code == 422 and len(details) == 1 and bool(named)
               and "((ingangsdatum))" in named[0].get("reason", ""),
               f"HTTP {refused.status_code} {error.get('code')}: "
               + "; ".join(f"row {d.get('position')} {d.get('field')} {d.get('reason')}" for d in details))
    body = {"message_type": TYPE, "messages": rows[:2]}
    preview = client.post(f"/connections/{CONNECTION}/messages/preview", params={"row": 1}, json=body)
    text = preview.json().get("text") or "" if preview.status_code == 200 else ""
    tour.check("fill-in: dry run / web service",
               text.startswith("Beste mevrouw De Vries,") and "1 maart 2027" in text and "eigen brief" in text
               and "((" not in text, f"HTTP {preview.status_code}, row 1 {text.splitlines()[0] if text else ''!r}")
    sent = send(client, body)
    tour.check("fill-in: accepted / web service", sent["rows_handed_in"] == 2 and sent["counts"]["rejected"] == 0,
               f"submission {sent['id']}: {sent['rows_handed_in']} rows handed in, "
               f"rejected {sent['counts']['rejected']}")
    return sent["id"]


def versions_recorded(tour, client, status: dict, version: int) -> None:
    """Every message of the fill-in send names the uploaded version."""
    submission_id = status["id"]
    rows = client.get(f"/submissions/{submission_id}/messages").raise_for_status().json()["rows"]
    used = sorted({r.get("standard_text_version") for r in rows}, key=str)
    tour.check("standard text version / web service", len(rows) == 2 and used == [version],
               f"submission {submission_id} ({status['status']}): its {len(rows)} messages used version(s) "
               f"{used} (uploaded {version})")
