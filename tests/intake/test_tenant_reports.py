"""What a tenant reads about a drop from a real office (issue 10, items 10-13): where the
NUL byte is, BBX's own report columns uploaded again, one row count everywhere, and
reasons that say what Excel did and what to do."""

import csv
import io
import json

from intake_helpers import pdf, run_intake

from bbx.domain import bsn
from bbx.domain.drop import ListedFile, classify, parse_marker
from bbx.domain.drop_check import DropCheck, MessageTypeInfo
from bbx.domain.drop_tables import TableError, detect_encoding

B = list(bsn.generate(10, seed=43))
NO_TEXT = MessageTypeInfo("WOZ2026", "Uw WOZ-beschikking", has_standard_text=False)
WITH_TEXT = MessageTypeInfo("PASPRT", "Uw paspoort verloopt", has_standard_text=True)


def check(files: dict[str, bytes], marker: bytes = b"message_type: PASPRT\n") -> DropCheck:
    files = {**files, "READY": marker}
    listed = [classify(ListedFile(name, len(data))) for name, data in files.items()]
    return DropCheck(parse_marker("READY", marker), listed, lambda name: io.BytesIO(files[name])).scan()


def test_a_nul_byte_is_named_by_line_and_column_and_all_are_counted():
    lines = [B[i % 10] for i in range(100_000)]
    lines[76_542] = lines[76_542][:4] + "\x00" + lines[76_542][4:]
    lines[90_000] += "\x00\x00"
    data = ("\r\n".join(lines) + "\r\n").encode()
    try:
        detect_encoding("bsns.csv", lambda: io.BytesIO(data))
    except TableError as exc:
        assert str(exc) == ("the file contains 3 NUL byte(s) (the first on line 76543, column 5), so it is "
                            "not a text list: remove them, or save the list again as CSV text")
    else:
        raise AssertionError("a list with NUL bytes was read")


def test_excel_scientific_notation_and_workbooks_get_what_to_do():
    result = bsn.check("3.69212E+08")
    assert result.error.startswith("the BSN was turned into scientific notation by Excel")
    assert "format the BSN column as text" in result.error
    assert bsn.check("3,69212E+08").error == result.error  # Dutch Excel writes a decimal comma
    assert bsn.check("12a456782").error == "BSN must contain digits only"
    problem = classify(ListedFile("bsns.xlsx", 100)).problem
    assert "Save as → CSV (semicolon separated)" in problem


def test_bsns_with_dots_or_inner_spaces_are_fixed_and_noted():
    dotted = f"{B[0][:3]}.{B[0][3:6]}.{B[0][6:]}"
    spaced = f"{B[1][:4]} {B[1][4:]}"
    drop = check({"bsns.csv": f"bsn\r\n{dotted}\r\n{spaced}\r\n {B[2]} \r\n".encode()})
    results = list(drop.check_rows(WITH_TEXT, None, {}))
    assert [(r.bsn, r.reasons) for r in results] == [(B[0], []), (B[1], []), (B[2], [])]
    assert drop.notes() == ["2 BSN(s) were written with dots, dashes or spaces; BBX removed them "
                            "(bsns.csv row 2, bsns.csv row 3). Write a BSN as 9 digits only."]


def test_an_invalid_bsn_in_a_pdf_name_does_not_ask_for_a_pdf():
    wrong = B[3][:-1] + str((int(B[3][-1]) + 1) % 10)  # fails the 11-test
    drop = check({"bsns.csv": f"bsn\r\n{B[4]}\r\n{wrong}\r\n{B[5]}\r\n".encode(), f"{B[4]}_1.pdf": pdf(),
                  f"{wrong}_1.pdf": pdf()}, b"message_type: WOZ2026\npdfs_per_bsn: 0-1\n")
    assert [p.file for p in drop.problems] == [f"{wrong}_1.pdf"]  # the name: a problem of the drop
    got = {r.row.number: r.reasons for r in drop.check_rows(NO_TEXT, None, {})}
    assert got[2] == []
    assert got[3] == ["BSN fails the 11-test (elfproef): check for a typing error"]  # no "give a personal PDF"
    assert got[4] == ["message type WOZ2026 has no standard text: give a personal text or a personal PDF "
                      "for this BSN"]  # none was given for this one


def _report(outbox: dict[str, bytes], name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(outbox[name].decode("utf-8-sig")), delimiter=";"))


def test_bbx_own_report_uploaded_again_gets_one_row_and_reason_column(tenant, configured):
    tenant.upload_drop("d1", {"teksten.csv": f"bsn;tekst\r\n{B[0]};Hallo\r\n123;Dag\r\n".encode()})
    [first] = run_intake()
    report = tenant.outbox()[f"d1.s{first['submission_id']}.errors.csv"]
    assert _report(tenant.outbox(), f"d1.s{first['submission_id']}.errors.csv") == [
        ["bsn", "tekst", "row", "reason"], ["123", "Dag", "3", "BSN must have 9 digits, found 3"]]
    corrected = report.decode("utf-8-sig").replace("123;", "1234;")  # still wrong: reported again
    tenant.upload_drop("d2", {"fixed.csv": corrected.encode("utf-8-sig")})
    [second] = run_intake()
    assert _report(tenant.outbox(), f"d2.s{second['submission_id']}.errors.csv") == [
        ["bsn", "tekst", "row", "reason"], ["1234", "Dag", "2", "BSN must have 9 digits, found 4"]]


def test_a_drop_rejected_as_a_whole_has_one_count_everywhere(tenant, configured):
    tenant.upload_drop("kapot", {"bsns.csv": f"{B[0]}\n{B[1]}\n".encode(), "x.docx": b"PK"})
    [result] = run_intake()
    sid = result["submission_id"]
    ack = json.loads(tenant.outbox()[f"kapot.s{sid}.ack.json"])
    counts = configured.execute(
        "SELECT s.rows_handed_in, count(m.*) FILTER (WHERE m.outcome = 'rejected') AS rejected FROM submissions s"
        " LEFT JOIN messages m ON m.submission_id = s.id WHERE s.id = %s GROUP BY s.id", (sid,)).fetchone()
    assert (counts["rows_handed_in"], counts["rejected"]) == (0, 0)  # what `make demo` prints
    assert ack["status"] == "rejected"
    assert ack["rows"] == {"handed_in": 0, "accepted": 0, "rejected": 0}
    assert ack["rows_in_drop"] == 2
    assert (result["rows"], result["accepted_rows"], result["rejected_rows"]) == (0, 0, 0)


def test_an_inactive_connection_takes_no_new_drop_as_the_web_service_takes_no_request(tenant, configured, caplog):
    """One rule for every channel (bbx.store.handins.connection_problem): the web service
    answers 409; SFTP intake leaves new drops waiting in inbox/ (it used to take them in)."""
    from intake_helpers import CONNECTION

    from bbx.intake import steps

    tenant.upload_drop("wacht", {"bsns.csv": B[0].encode()})
    configured.execute("UPDATE connections SET active = false WHERE code = %s", (CONNECTION,))
    configured.commit()
    with caplog.at_level("WARNING", logger="bbx.intake.steps"):
        assert steps.find_drops(CONNECTION) == []
    assert f"connection {CONNECTION} is not active" in caplog.text
    assert tenant.listdir("/voorbeeld/inbox") == ["wacht"]
    configured.execute("UPDATE connections SET active = true WHERE code = %s", (CONNECTION,))
    configured.commit()
    [result] = run_intake()
    assert (result["name"], result["status"]) == ("wacht", "accepted")
