"""Pure rules of a population list (issue 16): markers of kind population, modes,
register_export values, and the BSN-only row check of drop_check."""

import io

import pytest

from bbx.domain import population
from bbx.domain.drop import DropFile, ManifestError, parse_manifest, parse_ready
from bbx.domain.drop_check import DropCheck

pytestmark = pytest.mark.usefixtures("english")  # these tests pin the English wording


def test_ready_and_manifest_of_kind_population():
    ready = parse_ready("READY", b"kind: population\nmode: additions\ndrop_id: inw-1\n")
    assert (ready.drop_kind, ready.mode, ready.message_type, ready.drop_id) == ("population", "additions", "", "inw-1")
    default = parse_ready("READY", b"kind: Population\n")
    assert (default.drop_kind, default.mode) == ("population", "full")
    manifest = parse_manifest("manifest.json", b'{"protocol": "bbx-drop/1", "kind": "population", "mode": "removals",'
                                               b' "files": [{"name": "a.csv", "sha256": "' + b"0" * 64 + b'"}]}')
    assert (manifest.drop_kind, manifest.mode) == ("population", "removals")
    messages = parse_ready("READY", b"message_type: PASPRT\n")
    assert (messages.drop_kind, messages.mode) == ("messages", None)


@pytest.mark.parametrize(("marker", "problem"), [
    (b"kind: population\nmode: all\n", '"mode" must be one of full, additions, removals'),
    (b"kind: population\nmessage_type: PASPRT\n", "has no message_type"),
    (b"kind: brieven\nmessage_type: PASPRT\n", '"kind" must be "messages" or "population"'),
    (b"message_type: PASPRT\nmode: full\n", '"mode" is only for a population list'),
    (b"drop_id: x\n", '"message_type" is missing'),
])
def test_bad_population_markers(marker, problem):
    with pytest.raises(ManifestError, match=problem):
        parse_ready("READY", marker)


def test_export_scope_keeps_true_as_the_whole_register():
    assert population.export_scope(True) == (True, "full")
    assert population.export_scope("full") == (True, "full")
    assert population.export_scope("population") == (True, "population")
    assert population.export_scope(False) == (False, "full")
    assert population.companion_name("register-voorbeeld-2026-03-05.csv") == "register-voorbeeld-2026-03-05.json"


def test_bsn_rows_of_a_population_list_use_the_bsn_rules():
    content = b"bsn\r\n249566758\r\n24956675 8\r\n123456789\r\n249566758\r\n99999999\r\n"
    manifest = parse_ready("READY", b"kind: population\n")
    check = DropCheck(manifest, [DropFile("p.csv", len(content), "list")], lambda _name: io.BytesIO(content)).scan()
    results = list(check.check_bsn_rows())
    assert [(r.row.number, r.bsn, r.accepted) for r in results] == [
        (2, "249566758", True), (3, "249566758", False), (4, None, False), (5, "249566758", False), (6, None, False)]
    assert "also on row 2" in results[1].reason and "also on row 2" in results[3].reason
    assert "11-test" in results[2].reason and "8 digits" in results[4].reason
    assert population.list_problem(("bsn",), "p.csv") is None
    assert "one column of BSNs only" in population.list_problem(("bsn", "text"), "p.csv")
