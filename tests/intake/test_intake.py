"""SFTP intake end to end (without Airflow): a real SFTP server, real PostgreSQL.

Tenants upload drops over SFTP as themselves (chroot); BBX picks them up as user bbx
through the Airflow SFTP provider's hook with host-key checking on.
"""

import csv
import hashlib
import io
import json

import pytest
from intake_helpers import CONNECTION, Tenant, manifest, pdf, ready, run_intake

from bbx import crypto
from bbx.domain import bsn, ids
from bbx.intake import steps

B = list(bsn.generate(40, seed=11))


def ack_of(outbox: dict[str, bytes], drop: str) -> dict:
    [name] = [n for n in outbox if n.startswith(f"{drop}.s") and n.endswith(".ack.json")]
    return json.loads(outbox[name])


def report_of(outbox: dict[str, bytes], name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(outbox[name].decode("utf-8-sig")), delimiter=";"))


def messages(db, submission_id: int) -> list[dict]:
    return db.execute(
        "SELECT row_number, bsn, message_id::text, outcome, outcome_reason, subject, reference, text_encrypted"
        " FROM messages WHERE submission_id = %s ORDER BY row_number", (submission_id,)).fetchall()


# ----------------------------------------------------------------------------- valid drops


def test_a_valid_mixed_drop_ends_as_planned_messages(tenant, configured):
    """Standard text + personal PDFs (checksummed manifest), and personal texts (READY)."""
    pdf_a1, pdf_a2, pdf_b1 = pdf("brief A deel 1"), pdf("brief A deel 2"), pdf("brief B")
    files = {"bsns.csv": f"BSN\r\n{B[0]}\r\n{B[1]}\r\n{B[2]}\r\n".encode(),
             f"{B[0]}_1.pdf": pdf_a1, f"{B[0]}_2.pdf": pdf_a2, f"{B[1]}_1.PDF": pdf_b1}
    tenant.upload_drop("paspoort-fase-1", files, marker="manifest.json",
                       marker_content=manifest("PASPRT", files, drop_id="pas-2026-1", pdfs_per_bsn="0-2"))
    texts = (f"bsn;tekst;onderwerp;referentie\r\n{B[3]};\"Geachte heer,\nUw WOZ-waarde is € 312.000.\";"
             f"Uw WOZ-beschikking;WOZ-{B[3][-4:]}\r\n{B[4]};Geachte mevrouw;;\r\n")
    tenant.upload_drop("woz", {"teksten.csv": texts.encode()}, message_type="WOZ2026")

    results = {r["name"]: r for r in run_intake()}
    assert {n: (r["status"], r["rows"], r["accepted_rows"], r["rejected_rows"]) for n, r in results.items()} == {
        "paspoort-fase-1": ("accepted", 3, 3, 0), "woz": ("accepted", 2, 2, 0)}
    assert steps.accepted_submissions(list(results.values())) == sorted(r["submission_id"] for r in results.values())

    pas = results["paspoort-fase-1"]["submission_id"]
    rows = messages(configured, pas)
    assert [(r["bsn"], r["outcome"], r["text_encrypted"]) for r in rows] == [(b, "planned", None) for b in B[:3]]
    assert [r["message_id"] for r in rows] == [ids.message_id(CONNECTION, pas, b) for b in B[:3]]
    stored = configured.execute(
        "SELECT m.bsn, a.position, a.file_name, a.sha256, a.content_encrypted FROM message_attachments a"
        " JOIN messages m ON m.id = a.message_id WHERE m.submission_id = %s ORDER BY m.bsn, a.position", (pas,)).fetchall()
    assert [(s["bsn"], s["position"], crypto.decrypt(s["content_encrypted"])) for s in stored] == [
        (B[0], 1, pdf_a1), (B[0], 2, pdf_a2), (B[1], 1, pdf_b1)]
    assert all(s["content_encrypted"] != pdf_a1 and s["sha256"] == hashlib.sha256(crypto.decrypt(s["content_encrypted"])).hexdigest()
               for s in stored)

    woz = results["woz"]["submission_id"]
    rows = messages(configured, woz)
    assert crypto.decrypt_text(rows[0]["text_encrypted"]) == "Geachte heer,\r\nUw WOZ-waarde is € 312.000."
    assert (rows[0]["subject"], rows[0]["reference"]) == ("Uw WOZ-beschikking", f"WOZ-{B[3][-4:]}")
    assert (rows[1]["subject"], crypto.decrypt_text(rows[1]["text_encrypted"])) == (None, "Geachte mevrouw")

    submission = configured.execute("SELECT * FROM submissions WHERE id = %s", (pas,)).fetchone()
    assert (submission["status"], submission["rows_handed_in"], submission["channel"]) == ("accepted", 3, "sftp")
    logged = configured.execute("SELECT file_name, role, size_bytes, sha256 FROM submission_files WHERE submission_id = %s"
                                " ORDER BY file_name", (pas,)).fetchall()
    assert [(f["file_name"], f["role"], f["sha256"]) for f in logged] == sorted(
        [(n, "list" if n.endswith(".csv") else "personal_pdf", hashlib.sha256(c).hexdigest()) for n, c in files.items()]
        + [("manifest.json", "marker", logged[-1]["sha256"])])

    outbox = tenant.outbox()
    ack = ack_of(outbox, "paspoort-fase-1")
    assert (ack["status"], ack["drop_id"], ack["submission"], ack["message_type"]) == ("accepted", "pas-2026-1", pas, "PASPRT")
    assert ack["rows"] == {"handed_in": 3, "accepted": 3, "rejected": 0}
    assert {f["name"]: f["sha256"] for f in ack["files"]}["bsns.csv"] == hashlib.sha256(files["bsns.csv"]).hexdigest()
    assert ack["reports"] == [] and ack["problems"] == []
    assert not [n for n in outbox if n.endswith((".errors.csv", ".rejected.txt"))]
    assert tenant.listdir("/voorbeeld/inbox") == [] and tenant.listdir("/voorbeeld/processing") == []
    assert tenant.listdir("/voorbeeld/archive") == sorted([f"paspoort-fase-1.s{pas}", f"woz.s{woz}"])
    assert tenant.listdir(f"/voorbeeld/archive/paspoort-fase-1.s{pas}") == sorted([*files, "manifest.json"])
    actions = [r["action"] for r in configured.execute(
        "SELECT action FROM audit_log WHERE submission_id = %s ORDER BY id", (pas,))]
    assert actions == ["submission.received", "sftp_drop.received", "submission.accepted", "sftp_drop.done"]


def test_real_office_files_are_read(tenant, configured):
    """Windows-1252, ',' separator, no header, Excel-stripped zeros, stray spaces, CRLF, .PDF."""
    eight = [b for b in bsn.generate(50, start=10_000_000)][:2]
    lines = [f" {eight[0][1:]} ,Beste heer Müller", f"{eight[1][1:]},  Geachte mevrouw  ", f"{B[5]} ,Tot ziens"]
    files = {"Brieven Excel.CSV": "\r\n".join(lines).encode("cp1252"), f"{B[5]}_1.PDF": pdf()}
    tenant.upload_drop("excel", files, marker="ready.txt",
                       marker_content=b"message_type: WOZ2026\r\npdfs_per_bsn: 0-1\r\n")
    [result] = run_intake()
    assert (result["status"], result["accepted_rows"], result["rejected_rows"]) == ("accepted", 3, 0)
    rows = messages(configured, result["submission_id"])
    assert [r["bsn"] for r in rows] == [eight[0], eight[1], B[5]]
    assert crypto.decrypt_text(rows[0]["text_encrypted"]) == "Beste heer Müller"
    ack = ack_of(tenant.outbox(), "excel")
    assert ack["notes"] == ["2 BSN(s) had 8 digits; BBX added the leading zero that spreadsheets remove "
                            "(Brieven Excel.CSV row 1, Brieven Excel.CSV row 2). Format the BSN column as text to avoid this.",
                            f"1 of 1 personal PDF(s) are not PDF/A ({B[5]}_1.PDF); they are sent as they are, but "
                            "MijnOverheid expects PDF/A: export the documents as PDF/A (PDF/A-2b)."]


# ----------------------------------------------------------------------------- row problems


def test_rejected_rows_come_back_in_an_error_report_the_rest_is_accepted(tenant, configured):
    rows = ["bsn;tekst;onderwerp", f"{B[0]};Hallo;", "123456789;Hallo;", f"{B[1]};{'x' * 4001};",
            f"{B[0]};dubbel;", f"{B[2]};;{'o' * 60}", f"{B[3]};\"met ; puntkomma\";Goed"]
    tenant.upload_drop("gemengd", {"teksten.csv": "\r\n".join(rows).encode()}, message_type="WOZ2026")
    [result] = run_intake()
    sid = result["submission_id"]
    assert (result["status"], result["rows"], result["accepted_rows"], result["rejected_rows"]) == ("accepted", 6, 2, 4)
    outbox = tenant.outbox()
    report = report_of(outbox, f"gemengd.s{sid}.errors.csv")
    assert list(report[0]) == ["bsn", "tekst", "onderwerp", "row", "reason"]
    assert [(r["bsn"], r["row"], r["reason"]) for r in report] == [
        ("123456789", "3", "BSN fails the 11-test (elfproef): check for a typing error"),
        (B[1], "4", "the text is 4,001 characters; at most 4,000 are allowed"),
        (B[0], "5", "the BSN is also on row 2 of teksten.csv: each BSN only once per drop"),
        (B[2], "6", "the subject is 60 characters; at most 50 are allowed; message type WOZ2026 has no standard "
                    "text: give a personal text or a personal PDF for this BSN"),
    ]
    assert outbox[f"gemengd.s{sid}.errors.csv"].startswith(b"\xef\xbb\xbf") and b"\r\n" in outbox[f"gemengd.s{sid}.errors.csv"]
    ack = ack_of(outbox, "gemengd")
    assert ack["rows"] == {"handed_in": 6, "accepted": 2, "rejected": 4}
    assert ack["reports"] == [f"gemengd.s{sid}.errors.csv"]
    stored = messages(configured, sid)
    assert [(r["row_number"], r["outcome"]) for r in stored] == [
        (1, "planned"), (2, "rejected"), (3, "rejected"), (4, "rejected"), (5, "rejected"), (6, "planned")]
    assert stored[1]["outcome_reason"] == "BSN fails the 11-test (elfproef): check for a typing error"


def test_a_corrected_error_report_can_be_uploaded_as_the_next_drop(tenant, configured):
    tenant.upload_drop("d1", {"bsns.csv": f"bsn\n{B[0]}\n{B[1][:-1]}0\n".encode()})
    [first] = run_intake()
    report = tenant.outbox()[f"d1.s{first['submission_id']}.errors.csv"].decode("utf-8-sig")
    corrected = report.replace(f"{B[1][:-1]}0", B[1])
    tenant.upload_drop("d2", {"fixed.csv": corrected.encode("utf-8-sig")})
    [second] = run_intake()
    assert (second["status"], second["accepted_rows"], second["rejected_rows"]) == ("accepted", 1, 0)
    assert [r["bsn"] for r in messages(configured, second["submission_id"])] == [B[1]]


# ----------------------------------------------------------------------------- whole-drop problems


def _deactivate_woz(db):
    db.execute("UPDATE message_types SET active = false WHERE code = 'WOZ2026'")
    db.commit()


WHOLE_DROP_CASES = {
    "unknown message type": (
        {"bsns.csv": B[0].encode()}, "message_type: PASPORT\n", None,
        "message type 'PASPORT' is not known for connection voorbeeld; known: PASPRT, WOZ2026"),
    "message type in other case": (
        {"bsns.csv": B[0].encode()}, "message_type: pasprt\n", None,
        "message type 'pasprt' is not known for connection voorbeeld (did you mean PASPRT?)"),
    "inactive message type": (
        {"bsns.csv": B[0].encode()}, "message_type: WOZ2026\n", _deactivate_woz,
        "message type 'WOZ2026' is not active for connection voorbeeld"),
    "unknown file": (
        {"bsns.csv": B[0].encode(), "toelichting.docx": b"PK\x03\x04"}, "message_type: PASPRT\n", None,
        "toelichting.docx: unknown file: a drop holds list files (.csv or .txt), personal PDFs"),
    "control character in a file name": (
        {"bsns.csv": B[0].encode(), "lijst\x1b.csv": B[1].encode()}, "message_type: PASPRT\n", None,
        "lijst\\x1b.csv: the file name contains control characters"),
    "hidden file": (
        {"bsns.csv": B[0].encode(), ".DS_Store": b"\x00\x00"}, "message_type: PASPRT\n", None,
        "hidden files (name starting with '.') are not accepted"),
    "empty list": (
        {"bsns.csv": b""}, "message_type: PASPRT\n", None, "bsns.csv: the file is empty (0 bytes)"),
    "orphan pdf": (
        {"bsns.csv": B[0].encode(), f"{B[0]}_1.pdf": pdf(), f"{B[1]}_1.pdf": pdf()}, "message_type: PASPRT\n", None,
        f"{B[1]}_1.pdf: no row of the drop's list has this BSN (an orphan PDF)"),
    "excel workbook instead of csv": (
        {"bsns.csv": b"PK\x03\x04\x14\x00"}, "message_type: PASPRT\n", None,
        "bsns.csv: this is not a text list but an Excel workbook (.xlsx)"),
    "badly named pdf": (
        {"bsns.csv": B[0].encode(), "brief jansen.pdf": pdf()}, "message_type: PASPRT\n", None,
        "brief jansen.pdf: a personal PDF must be named <BSN>_1.pdf or <BSN>_2.pdf"),
}


@pytest.mark.parametrize("case", list(WHOLE_DROP_CASES))
def test_a_problem_of_the_drop_as_a_whole_rejects_it_with_the_specific_reason(tenant, configured, case):
    files, marker, prepare, expected = WHOLE_DROP_CASES[case]
    if prepare:
        prepare(configured)
    tenant.upload_drop("probleem", files, marker_content=marker.encode())
    [result] = run_intake()
    sid = result["submission_id"]
    assert (result["status"], result["accepted_rows"]) == ("rejected", 0)
    assert configured.execute("SELECT count(*) AS n FROM messages WHERE submission_id = %s", (sid,)).fetchone()["n"] == 0
    submission = configured.execute("SELECT status, status_reason, rows_handed_in FROM submissions WHERE id = %s",
                                    (sid,)).fetchone()
    assert (submission["status"], submission["rows_handed_in"]) == ("rejected", 0)
    assert steps.masked(expected) in submission["status_reason"]  # what stays for good: BSNs masked
    audit = configured.execute("SELECT details::text AS d FROM audit_log WHERE submission_id = %s", (sid,)).fetchall()
    assert not any(b in row["d"] for row in audit for b in B)
    outbox = tenant.outbox()
    notice = outbox[f"probleem.s{sid}.rejected.txt"].decode()
    assert notice.startswith(f"Drop 'probleem' (submission {sid}) was NOT processed")
    assert expected in notice
    ack = ack_of(outbox, "probleem")
    assert ack["status"] == "rejected" and ack["rows"]["accepted"] == 0
    assert any(expected in (f"{p['file']}: " if p["file"] else "") + p["reason"] for p in ack["problems"])
    assert tenant.listdir("/voorbeeld/archive") == [f"probleem.s{sid}"]


def test_a_rejected_drop_still_reports_every_row_problem(tenant, configured):
    files = {"bsns.csv": f"{B[0]}\n123\n{B[0]}\n".encode(), "extra.xls": b"\xd0\xcf\x11\xe0"}
    tenant.upload_drop("alles", files)
    [result] = run_intake()
    sid = result["submission_id"]
    outbox = tenant.outbox()
    assert [(r["row"], r["reason"]) for r in report_of(outbox, f"alles.s{sid}.errors.csv")] == [
        ("2", "BSN must have 9 digits, found 3"),
        ("3", "the BSN is also on row 1 of bsns.csv: each BSN only once per drop")]
    notice = outbox[f"alles.s{sid}.rejected.txt"].decode()
    assert "extra.xls: unknown file" in notice and f"alles.s{sid}.errors.csv" in notice
    ack = ack_of(outbox, "alles")  # rejected as a whole: no row handed in, 3 read
    assert (ack["rows"], ack["rows_in_drop"]) == ({"handed_in": 0, "accepted": 0, "rejected": 0}, 3)


def test_a_file_above_the_size_limit_is_refused_without_reading_it(tenant, configured, monkeypatch):
    monkeypatch.setenv("BBX_INTAKE_MAX_FILE_MB", "1")
    big = ("\n".join(B[:2]) + "\n" + "#" * (1024 * 1024)).encode()
    tenant.upload_drop("groot", {"bsns.csv": big})
    [result] = run_intake()
    notice = tenant.outbox()[f"groot.s{result['submission_id']}.rejected.txt"].decode()
    assert (f"bsns.csv: the file is {len(big):,} bytes; at most 1,048,576 bytes per file are accepted: "
            "split the drop") in notice


def test_a_subfolder_in_a_drop_is_refused(tenant, configured):
    folder = tenant.upload_drop("map", {"bsns.csv": B[0].encode()}, marker=None)
    tenant.sftp.mkdir(f"{folder}/bijlagen")
    tenant.sftp.putfo(io.BytesIO(ready("PASPRT")), f"{folder}/READY")
    [result] = run_intake()
    assert result["status"] == "rejected"
    assert "bijlagen: sub-folders are not accepted in a drop" in tenant.outbox()[f"map.s{result['submission_id']}.rejected.txt"].decode()


# ----------------------------------------------------------------------------- manifests and markers


def test_a_drop_without_marker_waits_and_half_uploads_are_never_read(tenant, configured):
    tenant.upload_drop("bezig", {"bsns.csv": B[0].encode()}, marker=None)
    files = {"bsns.csv": "\n".join(B[:3]).encode()}
    folder = tenant.upload_drop("half", {"bsns.csv": files["bsns.csv"][:12]}, marker=None)  # upload in progress
    tenant.sftp.putfo(io.BytesIO(manifest("PASPRT", files)), f"{folder}/manifest.json")
    assert steps.find_drops(CONNECTION) == []
    assert run_intake() == []
    tenant.sftp.putfo(io.BytesIO(files["bsns.csv"]), f"{folder}/bsns.csv")  # upload finished
    [result] = run_intake()
    assert (result["name"], result["status"], result["accepted_rows"]) == ("half", "accepted", 3)
    assert tenant.listdir("/voorbeeld/inbox") == ["bezig"]


def test_a_broken_manifest_rejects_the_drop_with_one_clear_error(tenant, configured):
    files = {"bsns.csv": "\n".join(B[:2]).encode()}
    wrong = manifest("PASPRT", {"bsns.csv": b"something else"})
    wrong = json.loads(wrong)
    del wrong["files"][0]["size"]
    tenant.upload_drop("kapot", files, marker="manifest.json", marker_content=json.dumps(wrong).encode())
    [result] = run_intake()
    sid = result["submission_id"]
    reason = configured.execute("SELECT status_reason FROM submissions WHERE id = %s", (sid,)).fetchone()["status_reason"]
    expected_sha = hashlib.sha256(files["bsns.csv"]).hexdigest()
    assert reason == (f"manifest.json does not match the files received (bsns.csv has sha256 {expected_sha}, the "
                      f"manifest says {hashlib.sha256(b'something else').hexdigest()}): the whole drop was not "
                      "processed; upload the drop again with a correct manifest")
    assert (result["status"], result["rows"]) == ("rejected", 0)
    outbox = tenant.outbox()
    assert reason in outbox[f"kapot.s{sid}.rejected.txt"].decode()
    assert not [n for n in outbox if n.endswith(".errors.csv")]  # the rows were not even read


def test_an_unreadable_manifest_is_waited_for_then_rejected(tenant, configured):
    from datetime import UTC, datetime, timedelta

    tenant.upload_drop("json", {"bsns.csv": B[0].encode()}, marker="manifest.json", marker_content=b'{"protocol": ')
    assert steps.find_drops(CONNECTION) == []  # maybe still being written
    later = datetime.now(UTC) + timedelta(hours=1)
    [found] = steps.find_drops(CONNECTION, now=later)
    result = steps.acknowledge_drop(steps.validate_drop(steps.receive_drop(found)))
    assert result["status"] == "rejected"
    notice = tenant.outbox()[f"json.s{result['submission_id']}.rejected.txt"].decode()
    assert "manifest.json is not valid JSON (line 1, column 14: Expecting value)" in notice


# ----------------------------------------------------------------------------- re-uploads and phases


def test_re_uploads_are_recognised_by_drop_id_and_by_content(tenant, configured):
    files = {"bsns.csv": "\n".join(B[:3]).encode()}
    tenant.upload_drop("origineel", files, marker="manifest.json", marker_content=manifest("PASPRT", files, drop_id="upo-1"))
    [first] = run_intake()
    other = {"bsns.csv": "\n".join(B[5:7]).encode()}
    tenant.upload_drop("zelfde-id", other, marker="manifest.json", marker_content=manifest("PASPRT", other, drop_id="upo-1"))
    tenant.upload_drop("zelfde-inhoud", files)  # READY, no drop_id, same file
    results = {r["name"]: r for r in run_intake()}
    assert {n: r["status"] for n, r in results.items()} == {"zelfde-id": "duplicate", "zelfde-inhoud": "duplicate"}
    outbox = tenant.outbox()
    ack = ack_of(outbox, "zelfde-id")
    assert (ack["status"], ack["duplicate_of"]) == ("duplicate", first["submission_id"])
    assert ack["reason"].startswith(f"drop_id 'upo-1' was already used by submission {first['submission_id']} of ")
    assert ack_of(outbox, "zelfde-inhoud")["reason"].startswith(
        f"the same drop (same message type and the same files, by their sha256) was already handed in as submission "
        f"{first['submission_id']}")
    assert configured.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 3
    # every hand-in is logged, duplicates too
    assert configured.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 3


def test_a_rejected_drop_may_be_uploaded_again_corrected(tenant, configured):
    files = {"bsns.csv": B[0].encode(), "notes.doc": b"x"}
    tenant.upload_drop("poging", files, marker="manifest.json", marker_content=manifest("PASPRT", files, drop_id="p-1"))
    [first] = run_intake()
    assert first["status"] == "rejected"
    files = {"bsns.csv": B[0].encode()}
    tenant.upload_drop("poging", files, marker="manifest.json", marker_content=manifest("PASPRT", files, drop_id="p-1"))
    [second] = run_intake()
    assert (second["status"], second["accepted_rows"]) == ("accepted", 1)
    assert tenant.listdir("/voorbeeld/archive") == sorted([f"poging.s{first['submission_id']}", f"poging.s{second['submission_id']}"])


@pytest.mark.parametrize("earlier_in_memory", [250_000, 0], ids=["earlier-rows-in-memory", "temp-table-join"])
def test_phased_sends_never_hand_in_a_bsn_twice_for_the_same_message_type(tenant, configured, monkeypatch,
                                                                          earlier_in_memory):
    from bbx.store import handins

    monkeypatch.setattr(handins, "EARLIER_IN_MEMORY", earlier_in_memory)
    tenant.upload_drop("fase1", {"bsns.csv": "\n".join([B[0], B[1], "123"]).encode()})
    [phase1] = run_intake()
    tenant.upload_drop("fase2", {"bsns.csv": "\n".join([B[1], B[2], "123", B[0]]).encode()})
    tenant.upload_drop("woz", {"t.csv": f"{B[0]};Hallo\n".encode()}, message_type="WOZ2026")  # other type: fine
    results = {r["name"]: r for r in run_intake()}
    phase2 = results["fase2"]
    assert (phase2["accepted_rows"], phase2["rejected_rows"]) == (1, 3)
    assert results["woz"]["accepted_rows"] == 1
    date = configured.execute("SELECT received_at::date AS d FROM submissions WHERE id = %s",
                              (phase1["submission_id"],)).fetchone()["d"]
    report = report_of(tenant.outbox(), f"fase2.s{phase2['submission_id']}.errors.csv")
    earlier = (f"already handed in for message type PASPRT in submission {phase1['submission_id']} of {date}: "
               "it is not sent again")
    assert [(r["bsn"], r["reason"]) for r in report] == [
        (B[1], earlier), ("123", "BSN must have 9 digits, found 3"), (B[0], earlier)]
    planned = configured.execute("SELECT bsn FROM messages WHERE message_type_id = (SELECT id FROM message_types "
                                 "WHERE code = 'PASPRT') AND outcome = 'planned' ORDER BY bsn").fetchall()
    assert [r["bsn"] for r in planned] == sorted(B[:3])


def test_each_connection_reads_only_its_own_inbox(sftp_server, configured):
    steps.find_drops("pf_metaal")
    steps.find_drops("pf_zorg")
    steps.find_drops(CONNECTION)
    other = Tenant(sftp_server, user="pensioenuitvoerder", password="other-secret")
    try:
        # the pension fund's account sees its own connections' folders only, never voorbeeld's
        assert other.listdir("/") == ["pf_metaal", "pf_zorg"]
        other.upload_drop("upo", {"bsns.csv": B[0].encode()}, connection="pf_metaal", message_type="UPO2026")
        assert run_intake(CONNECTION) == []
        [result] = run_intake("pf_metaal")
        assert (result["status"], result["accepted_rows"]) == ("accepted", 1)
        assert other.listdir("/pf_metaal/archive") == [f"upo.s{result['submission_id']}"]
    finally:
        other.close()


# ----------------------------------------------------------------------------- housekeeping


def test_housekeeping_purges_archives_and_reports_after_retention(tenant, configured, sftp_server):
    from datetime import UTC, datetime, timedelta

    tenant.upload_drop("oud", {"bsns.csv": f"{B[0]}\n1\n".encode()})
    [result] = run_intake()
    # another writer's file (tenants cannot write in outbox/: put there server-side)
    (sftp_server.root / "gemeente-voorbeeld" / "voorbeeld" / "outbox" / "results-2026.csv").write_bytes(b"not ours")
    summary = steps.housekeeping()  # creates the other connections' folders, nothing is old yet
    assert (summary["archives_purged"], summary["outbox_files_removed"]) == (0, 0)
    summary = steps.housekeeping(now=datetime.now(UTC) + timedelta(days=91))
    assert summary["archives_purged"] == 1 and summary["outbox_files_removed"] == 2  # ack + error report
    assert tenant.listdir("/voorbeeld/archive") == []
    assert tenant.listdir("/voorbeeld/outbox") == ["results-2026.csv"]
    purged = configured.execute("SELECT purged_at FROM sftp_drops WHERE submission_id = %s",
                                (result["submission_id"],)).fetchone()["purged_at"]
    assert isinstance(purged, datetime)  # the drop itself is gone, the log says when
    assert configured.execute("SELECT count(*) AS n FROM submission_files").fetchone()["n"] == 2  # the log stays


def test_masking_keeps_hashes_and_hides_bsns():
    sha = "0123456789" + "a" * 54
    text = f"{B[0]}_1.pdf has sha256 {sha}; 12345678 and 1234567890 and REF-{B[1]}"
    assert steps.masked(text) == (f"******{B[0][-3:]}_1.pdf has sha256 {sha}; *****678 and 1234567890 and "
                                  f"REF-******{B[1][-3:]}")
