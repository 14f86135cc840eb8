"""What intake writes to the outbox is in the connection's language: Dutch by default
(issue 14). The other intake tests run their connections in English (conftest)."""

import csv
import io
import json

import pytest
from intake_helpers import run_intake

from bbx.domain import bsn

B = list(bsn.generate(4, seed=47))
pytestmark = pytest.mark.dutch  # the connections keep the default language


def _csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_error_report_and_acknowledgement_are_dutch_by_default(tenant, configured):
    tenant.upload_drop("d1", {"teksten.csv": f"bsn;tekst\r\n{B[0]};Hallo\r\n123;Dag\r\n".encode()})
    [result] = run_intake()
    sid = result["submission_id"]
    outbox = tenant.outbox()
    assert _csv(outbox[f"d1.s{sid}.errors.csv"]) == [
        ["bsn", "tekst", "regel", "reden"], ["123", "Dag", "3", "BSN moet 9 cijfers hebben, gevonden: 3"]]
    ack = json.loads(outbox[f"d1.s{sid}.ack.json"])
    assert ack["status"] == "accepted"  # machine-readable values stay the same
    # BBX's own Dutch report columns are ignored when the corrected report comes back
    corrected = outbox[f"d1.s{sid}.errors.csv"].decode("utf-8-sig").replace("123;", f"{B[1]};")
    tenant.upload_drop("d2", {"fixed.csv": corrected.encode("utf-8-sig")})
    [second] = run_intake()
    assert f"d2.s{second['submission_id']}.errors.csv" not in tenant.outbox()
    stored = configured.execute("SELECT count(*) AS n FROM messages WHERE submission_id = %s AND outcome = 'planned'",
                                (second["submission_id"],)).fetchone()
    assert stored["n"] == 1


def test_a_rejected_drop_is_explained_in_dutch(tenant, configured):
    tenant.upload_drop("kapot", {"bsns.csv": f"{B[2]}\n{B[3]}\n".encode(), "x.docx": b"PK"})
    [result] = run_intake()
    notice = tenant.outbox()[f"kapot.s{result['submission_id']}.rejected.txt"].decode("utf-8")
    assert notice.startswith("De aanlevering in map 'kapot' (aanlevering ")
    assert "is NIET verwerkt" in notice and "Herstel de problemen en upload de aanlevering opnieuw" in notice


def test_an_english_connection_gets_english_reports(tenant, configured):
    configured.execute("UPDATE connections SET language = 'en' WHERE code = 'voorbeeld'")
    configured.commit()
    tenant.upload_drop("d3", {"teksten.csv": b"bsn;tekst\r\n123;Dag\r\n"})
    [result] = run_intake()
    assert _csv(tenant.outbox()[f"d3.s{result['submission_id']}.errors.csv"])[0] == ["bsn", "tekst", "row", "reason"]


def _set_language(configured, lang: str) -> None:
    configured.execute("UPDATE connections SET language = %s WHERE code = 'voorbeeld'", (lang,))
    configured.commit()


@pytest.mark.parametrize(("lang", "expected"), [
    ("nl", ["regel 2: onbekende sleutel 'kleur'", "is geen geldige READY-marker"]),
    ("en", ["line 2: unknown key 'kleur'", "is not a valid ready marker"]),
])
def test_a_broken_marker_is_explained_in_the_connection_language(tenant, configured, lang, expected):
    _set_language(configured, lang)
    tenant.upload_drop("marker", {"bsns.csv": f"{B[0]}\n".encode()},
                       marker_content=b"message_type: PASPRT\nkleur: blauw\n")
    [result] = run_intake()
    notice = tenant.outbox()[f"marker.s{result['submission_id']}.rejected.txt"].decode("utf-8")
    for text in expected:
        assert text in notice


@pytest.mark.parametrize(("lang", "expected", "foreign"), [
    ("nl", ["onbekend bestand: een spreadsheet wordt niet als lijst gelezen",
            "submappen worden niet geaccepteerd"], "unknown file"),
    ("en", ["unknown file: a spreadsheet is not read as a list",
            "sub-folders are not accepted in a drop"], "onbekend bestand"),
])
def test_file_problems_of_a_drop_are_in_one_language(tenant, configured, lang, expected, foreign):
    _set_language(configured, lang)
    folder = tenant.upload_drop("bestanden", {"bsns.csv": f"{B[1]}\n".encode(), "lijst.xlsx": b"PK\x03\x04"})
    tenant.sftp.mkdir(f"{folder}/sub")
    [result] = run_intake()
    notice = tenant.outbox()[f"bestanden.s{result['submission_id']}.rejected.txt"].decode("utf-8")
    for text in expected:
        assert text in notice
    assert foreign not in notice  # one language per file


@pytest.mark.parametrize(("lang", "reason"), [
    ("nl", "geen pdf: het bestand is een ZIP-archief"),
    ("en", "not a PDF: the file is a ZIP archive"),
])
def test_a_pdf_reason_in_the_error_report_follows_the_language(tenant, configured, lang, reason):
    _set_language(configured, lang)
    tenant.upload_drop("pdfs", {"bsns.csv": f"{B[2]}\n{B[3]}\n".encode(), f"{B[2]}_1.pdf": b"PK\x03\x04 word",
                                f"{B[3]}_1.pdf": b"%PDF-1.7\nnot really"})
    [result] = run_intake()
    outbox = tenant.outbox()
    report = next(data for name, data in outbox.items()
                  if name.startswith(f"pdfs.s{result['submission_id']}.") and name.endswith((".errors.csv", ".rejected.txt")))
    assert reason in report.decode("utf-8-sig")
