"""Tenant configuration: the sample applies, re-applies without change, and every
kind of mistake is reported with its path in the file."""

import shutil
from pathlib import Path

import pytest
import yaml

from bbx.config.model import ConfigError, load
from bbx.store import administration

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "config" / "sample"


def test_sample_config_applies_and_reapplies_without_duplicates(db, sample_config_path):
    config = load(sample_config_path)
    first = administration.apply_config(db, config, actor="test")
    # 2 tenants, 3 connections, 6 standard attachments, 5 message types
    assert (first.created, first.updated, first.unchanged) == (16, 0, 0)
    second = administration.apply_config(db, load(sample_config_path), actor="test")
    assert (second.created, second.updated, second.deactivated) == (0, 0, 0)
    assert second.unchanged == 16
    counts = db.execute(
        "SELECT (SELECT count(*) FROM tenants) t, (SELECT count(*) FROM connections) c,"
        " (SELECT count(*) FROM message_types) m, (SELECT count(*) FROM message_type_attachments) l,"
        " (SELECT count(*) FROM audit_log WHERE action = 'config.apply') a"
    ).fetchone()
    assert counts == {"t": 2, "c": 3, "m": 5, "l": 6, "a": 2}
    rows = {r["connection"]: r for r in administration.describe(db)}
    assert rows["pf_metaal"]["message_types"] == "PENSBRF, UPO2026"
    upo = db.execute(
        "SELECT standard_text FROM message_types m JOIN connections c ON c.id = m.connection_id"
        " WHERE c.code = 'pf_metaal' AND m.code = 'UPO2026'"
    ).fetchone()
    assert upo["standard_text"].startswith("Geachte deelnemer,")


def test_changed_config_updates_and_deactivates(db, tmp_path, sample_config_path):
    administration.apply_config(db, load(sample_config_path), actor="test")
    doc = _sample()
    connection = doc["tenants"][0]["connections"][0]
    connection["message_types"][0]["subject"] = "Nieuw onderwerp"
    connection["message_types"].pop()  # WOZ2026 disappears from the file
    summary = administration.apply_config(db, load(_write(tmp_path, doc)), actor="test")
    assert summary.updated == 1
    assert summary.deactivated == 1
    active = db.execute("SELECT code, active, subject FROM message_types WHERE code IN ('PASPRT', 'WOZ2026') ORDER BY code").fetchall()
    assert active == [
        {"code": "PASPRT", "active": True, "subject": "Nieuw onderwerp"},
        {"code": "WOZ2026", "active": False, "subject": "Uw WOZ-beschikking 2026"},
    ]


def _sample() -> dict:
    return yaml.safe_load((SAMPLE_DIR / "tenants.yaml").read_text())


def _write(tmp_path: Path, doc: dict) -> Path:
    if not (tmp_path / "attachments").exists():
        shutil.copytree(SAMPLE_DIR / "attachments", tmp_path / "attachments")
        shutil.copytree(SAMPLE_DIR / "texts", tmp_path / "texts")
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def _problems(tmp_path, mutate) -> list[str]:
    doc = _sample()
    mutate(doc)
    with pytest.raises(ConfigError) as info:
        load(_write(tmp_path, doc))
    return info.value.problems


def _first_connection(doc):
    return doc["tenants"][0]["connections"][0]


CASES = {
    "subject too long": (
        lambda d: _first_connection(d)["message_types"][0].update(subject="x" * 51),
        "tenants[0].connections[0].message_types[0].subject: 51 characters, at most 50 allowed",
    ),
    "standard text too long": (
        lambda d: _first_connection(d)["message_types"][0].update(standard_text="x" * 4001),
        "tenants[0].connections[0].message_types[0].standard_text: 4001 characters, at most 4000 allowed",
    ),
    "message type code too long": (
        lambda d: _first_connection(d)["message_types"][0].update(code="PASPOORT1"),
        "tenants[0].connections[0].message_types[0].code: 9 characters, at most 8 allowed",
    ),
    "more than 3 standard attachments": (
        lambda d: _first_connection(d)["message_types"][0].update(standard_attachments=["a", "b", "c", "d"]),
        "tenants[0].connections[0].message_types[0].standard_attachments: 4 items, at most 3 allowed",
    ),
    "unknown standard attachment": (
        lambda d: _first_connection(d)["message_types"][0].update(standard_attachments=["folder-paspoort", "nope"]),
        "tenants[0].connections[0].message_types[0].standard_attachments[1]: unknown standard attachment 'nope'",
    ),
    "duplicate message type code": (
        lambda d: _first_connection(d)["message_types"][1].update(code="PASPRT"),
        "tenants[0].connections[0].message_types[1].code: duplicate message type code 'PASPRT'"
        " (also at tenants[0].connections[0].message_types[0].code)",
    ),
    "duplicate connection code": (
        lambda d: d["tenants"][1]["connections"][1].update(code="pf_metaal"),
        "tenants[1].connections[1].code: duplicate connection code 'pf_metaal'",
    ),
    "duplicate OIN": (
        lambda d: d["tenants"][1]["connections"][0].update(oin=_first_connection(d)["oin"]),
        "tenants[1].connections[0].oin: duplicate OIN",
    ),
    "OIN not 20 digits": (
        lambda d: _first_connection(d).update(oin="1234"),
        "tenants[0].connections[0].oin: '1234' does not match the required format",
    ),
    "missing field": (
        lambda d: _first_connection(d).pop("cpa_id"),
        "tenants[0].connections[0]: 'cpa_id' is a required property",
    ),
    "unknown field": (
        lambda d: _first_connection(d).update(colour="red"),
        "tenants[0].connections[0]: Additional properties are not allowed ('colour' was unexpected)",
    ),
    "missing attachment file": (
        lambda d: _first_connection(d)["standard_attachments"][0].update(file="attachments/missing.pdf"),
        "tenants[0].connections[0].standard_attachments[0].file: cannot read 'attachments/missing.pdf'",
    ),
    "text and text file both given": (
        lambda d: d["tenants"][1]["connections"][0]["message_types"][0].update(standard_text="x"),
        "tenants[1].connections[0].message_types[0]: give either standard_text or standard_text_file, not both",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_config_is_reported_with_its_path(tmp_path, case):
    mutate, expected = CASES[case]
    problems = _problems(tmp_path, mutate)
    assert any(p.startswith(expected) for p in problems), problems


def test_non_pdf_attachment_is_refused(tmp_path):
    doc = _sample()
    _write(tmp_path, doc)
    (tmp_path / "attachments" / "fake.pdf").write_bytes(b"just text, named .pdf")
    _first_connection(doc)["standard_attachments"][0]["file"] = "attachments/fake.pdf"
    with pytest.raises(ConfigError) as info:
        load(_write(tmp_path, doc))
    [problem] = info.value.problems
    assert problem.startswith("tenants[0].connections[0].standard_attachments[0].file: 'attachments/fake.pdf': ")
    assert "PDF" in problem


def test_all_problems_are_reported_at_once(tmp_path):
    def several(doc):
        _first_connection(doc)["message_types"][0]["subject"] = "x" * 60
        _first_connection(doc)["oin"] = "abc"

    assert len(_problems(tmp_path, several)) == 2


def test_unreadable_yaml_is_one_clear_problem(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("tenants: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.problems[0].startswith("not valid YAML/JSON")


def test_register_export_population_full_and_the_old_boolean(db, tmp_path):
    """register_export: false | true | full | population (issue 16); true keeps meaning the whole register."""
    doc = _sample()
    values = {"voorbeeld": "population", "pf_metaal": True, "pf_zorg": "full"}
    for tenant in doc["tenants"]:
        for connection in tenant["connections"]:
            connection["register_export"] = values[connection["code"]]
    administration.apply_config(db, load(_write(tmp_path, doc)), actor="test")
    rows = {r["code"]: (r["register_export"], r["register_export_scope"])
            for r in db.execute("SELECT code, register_export, register_export_scope FROM connections")}
    assert rows == {"voorbeeld": (True, "population"), "pf_metaal": (True, "full"), "pf_zorg": (True, "full")}
    _first_connection(doc)["register_export"] = False
    administration.apply_config(db, load(_write(tmp_path, doc)), actor="test")
    row = db.execute("SELECT register_export, register_export_scope FROM connections WHERE code = 'voorbeeld'"
                     ).fetchone()
    assert (row["register_export"], row["register_export_scope"]) == (False, "full")
    problems = _problems(tmp_path, lambda d: _first_connection(d).update(register_export="partly"))
    assert any(p.startswith("tenants[0].connections[0].register_export: 'partly' is not one of") for p in problems)
