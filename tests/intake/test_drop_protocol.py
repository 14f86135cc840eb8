"""The drop protocol (pure): markers, manifests, file names, completeness, fingerprints."""

import hashlib
import json

import pytest

from bbx.domain import drop
from bbx.domain.drop import (
    DropFile,
    ListedFile,
    ManifestError,
    PdfRule,
    ReceivedFile,
    check_manifest,
    classify,
    fingerprint,
    manifest_complete,
    marker_of,
    parse_marker,
    sort_files,
    unsafe_name,
)

SHA = hashlib.sha256(b"x").hexdigest()


def _manifest(**fields) -> bytes:
    doc = {"protocol": "bbx-drop/1", "message_type": "UPO2026",
           "files": [{"name": "bsns.csv", "sha256": SHA, "size": 1}], **fields}
    return json.dumps(doc).encode()


def test_valid_manifest_is_read_with_every_field():
    m = parse_marker("manifest.json", _manifest(drop_id="upo-fase-1", pdfs_per_bsn="0-2", separator="tab"))
    assert (m.kind, m.message_type, m.drop_id, m.separator) == ("manifest", "UPO2026", "upo-fase-1", "\t")
    assert m.pdfs_per_bsn == PdfRule(0, 2)
    assert m.files == (drop.ManifestFile("bsns.csv", SHA, 1),)


def test_ready_marker_with_windows_line_ends_and_bom():
    m = parse_marker("READY.txt", "\ufeffmessage_type: PASPRT\r\ndrop_id = fase 2\r\n# comment\r\n".encode())
    assert (m.kind, m.message_type, m.drop_id, m.files) == ("ready", "PASPRT", "fase 2", None)
    assert m.pdf_rule(drop_has_pdfs=True) == PdfRule(1, 2)
    assert m.pdf_rule(drop_has_pdfs=False) == PdfRule(0, 0)


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("manifest.json", b"{not json", "is not valid JSON (line 1, column 2"),
    ("manifest.json", b'{"protocol": "bbx-drop/1", "protocol": "bbx-drop/1"}', "has the field 'protocol' twice"),
    ("manifest.json", b"[1, 2]", "must hold one JSON object"),
    ("manifest.json", _manifest(protocol="bbx-drop/2"), "\"protocol\" must be 'bbx-drop/1'"),
    ("manifest.json", _manifest(message_type=""), "\"message_type\" is missing"),
    ("manifest.json", _manifest(message_type="TOOLONGCODE"), "longer than 8 characters"),
    ("manifest.json", _manifest(files=[]), "\"files\" must list every file"),
    ("manifest.json", _manifest(files=[{"name": "a.csv", "sha256": "abc"}]), "\"sha256\" must be 64 hexadecimal"),
    ("manifest.json", _manifest(files=[{"name": "../../etc/passwd", "sha256": SHA}]),
     "files[0] ('../../etc/passwd'): file names must not contain '..'"),
    ("manifest.json", _manifest(files=[{"name": "a.csv", "sha256": SHA}, {"name": "A.CSV", "sha256": SHA}]),
     "'A.CSV' is listed twice"),
    ("manifest.json", _manifest(pdfs_per_bsn=3), "pdfs_per_bsn must be one of"),
    ("manifest.json", _manifest(colour="blue"), "unknown field(s) 'colour'"),
    ("manifest.json", b"\xff\xfe{}", "is not UTF-8 text"),
    ("READY", b"drop_id: x\n", "\"message_type\" is missing"),
    ("READY", b"message_type: PASPRT\nfoo: bar\n", "line 2: unknown key 'foo'"),
    ("READY", b"message_type PASPRT\n", "line 1 is not 'key: value'"),
])
def test_broken_markers_get_one_clear_error(name, data, expected):
    with pytest.raises(ManifestError) as caught:
        parse_marker(name, data)
    assert expected in str(caught.value)


def test_marker_is_found_case_insensitively_and_manifest_wins():
    assert marker_of(["a.csv", "ready"]) == "ready"
    assert marker_of(["READY", "Manifest.JSON"]) == "Manifest.JSON"
    assert marker_of(["a.csv", "ready.doc"]) is None


@pytest.mark.parametrize(("name", "expected"), [
    ("../x.csv", "must not contain '..'"),
    ("a/b.csv", "must not contain / or \\"),
    ("a\\b.csv", "must not contain / or \\"),
    ("x..csv", "must not contain '..'"),
    ("bsns\x07.csv", "control characters"),
    ("bsns\u202e.csv", "control characters"),  # right-to-left override (hides the real extension)
    (".hidden.csv", "hidden files"),
    (" bsns.csv", "starts or ends with a space"),
    ("a" * 300 + ".csv", "longer than 255 bytes"),
])
def test_unsafe_names_are_refused(name, expected):
    assert expected in unsafe_name(name)


def test_classify_sorts_files_into_roles_with_problems():
    listed = [
        ListedFile("bsns.CSV", 10), ListedFile("brieven.txt", 0), ListedFile("123456782_1.PDF", 5),
        ListedFile("10000008_2.pdf", 5), ListedFile("123456789_1.pdf", 5), ListedFile("brief.pdf", 5),
        ListedFile("notes.docx", 5), ListedFile("sub", 0, "dir"), ListedFile("link.csv", 5, "link"),
        ListedFile("READY", 20), ListedFile("huge.csv", 2_000),
    ]
    files = {f.name: f for f in (classify(e, drop.IntakeLimits(max_file_bytes=1_000)) for e in listed)}
    assert files["bsns.CSV"] == DropFile("bsns.CSV", 10, "list")
    assert files["brieven.txt"].problem == "the file is empty (0 bytes)"
    assert (files["123456782_1.PDF"].bsn, files["123456782_1.PDF"].position) == ("123456782", 1)
    assert files["10000008_2.pdf"].bsn == "010000008"  # 8 digits: the leading zero restored
    assert "does not start with a valid BSN" in files["123456789_1.pdf"].problem
    assert "must be named <BSN>_1.pdf" in files["brief.pdf"].problem
    assert "unknown file" in files["notes.docx"].problem
    assert "sub-folders are not accepted" in files["sub"].problem
    assert "links and special files are not accepted" in files["link.csv"].problem
    assert files["READY"].role == "marker"
    assert "at most 1,000 bytes per file" in files["huge.csv"].problem


def test_two_files_for_the_same_pdf_slot_are_a_problem():
    plan = sort_files([classify(ListedFile("010000008_1.pdf", 5)), classify(ListedFile("10000008_1.PDF", 5))])
    assert [p.text() for p in plan.problems] == [
        "10000008_1.PDF: same BSN and number as 010000008_1.pdf: keep one of the two"]
    assert [p.name for p in plan.pdfs] == ["010000008_1.pdf", "10000008_1.PDF"]


def test_manifest_complete_only_when_every_file_has_its_size():
    m = parse_marker("manifest.json", _manifest(files=[{"name": "a.csv", "sha256": SHA, "size": 3},
                                                       {"name": "b.csv", "sha256": SHA}]))
    listing = {"a.csv": ListedFile("a.csv", 2), "b.csv": ListedFile("b.csv", 9)}
    assert not manifest_complete(m, listing)  # a.csv still being uploaded
    listing["a.csv"] = ListedFile("a.csv", 3)
    assert manifest_complete(m, listing)
    del listing["b.csv"]
    assert not manifest_complete(m, listing)


def test_check_manifest_names_every_difference():
    m = parse_marker("manifest.json", _manifest(files=[{"name": "a.csv", "sha256": SHA, "size": 1},
                                                       {"name": "b.csv", "sha256": SHA},
                                                       {"name": "c.csv", "sha256": SHA}]))
    received = {"a.csv": ReceivedFile("a.csv", 1, SHA), "b.csv": ReceivedFile("b.csv", 1, "0" * 64),
                "d.pdf": ReceivedFile("d.pdf", 1, SHA), "manifest.json": ReceivedFile("manifest.json", 9, SHA)}
    error = check_manifest(m, received)
    assert error.startswith("manifest.json does not match the files received (")
    assert f"b.csv has sha256 {'0' * 64}, the manifest says {SHA}" in error
    assert "c.csv is listed but was not received" in error
    assert "d.pdf is in the drop but not listed in the manifest" in error
    assert "manifest.json is in the drop" not in error
    assert check_manifest(m, {k: v for k, v in received.items() if k == "a.csv"} | {
        "b.csv": ReceivedFile("b.csv", 1, SHA), "c.csv": ReceivedFile("c.csv", 1, SHA)}) is None


def test_fingerprint_depends_on_content_and_message_type_not_on_marker_or_order():
    a = [ReceivedFile("bsns.csv", 1, SHA), ReceivedFile("READY", 5, "1" * 64)]
    b = [ReceivedFile("READY", 7, "2" * 64), ReceivedFile("BSNS.csv", 1, SHA)]
    assert fingerprint("UPO2026", a) == fingerprint("UPO2026", b)
    assert fingerprint("UPO2026", a) != fingerprint("PENSBRF", a)
    assert fingerprint("UPO2026", a) != fingerprint("UPO2026", [ReceivedFile("bsns.csv", 1, "3" * 64)])


def test_drop_names_and_labels():
    assert drop.drop_name_problem("UPO fase 1") is None
    assert "not accepted" in drop.drop_name_problem("fase\x01")
    assert drop.safe_label("UPO fase/1") == "UPO_fase_1"
    assert drop.display_name("lijst\x1b.csv") == "lijst\\x1b.csv"
