"""The connection setting ``language: nl|en`` (tenant configuration → BBX's database)."""

import shutil
from pathlib import Path

import pytest
import yaml

from bbx.config.model import ConfigError, load
from bbx.store import administration

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "config" / "sample"


def _config(tmp_path: Path, language, tenant: int = 0) -> Path:
    shutil.copytree(SAMPLE_DIR, tmp_path / "sample")
    path = tmp_path / "sample" / "tenants.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for connection in doc["tenants"][tenant]["connections"]:
        connection["language"] = language
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_language_defaults_to_dutch_and_english_reaches_the_database(db, tmp_path):
    assert {c.language for t in load(SAMPLE_DIR / "tenants.yaml").tenants for c in t.connections} == {"nl"}
    administration.apply_config(db, load(_config(tmp_path, "en", tenant=1)), actor="test")
    rows = db.execute("SELECT code, language FROM connections ORDER BY code").fetchall()
    assert {r["code"]: r["language"] for r in rows} == {"pf_metaal": "en", "pf_zorg": "en", "voorbeeld": "nl"}
    tenants = {r["code"]: r["id"] for r in db.execute("SELECT id, code FROM tenants")}
    assert administration.tenant_language(db, tenants["pensioenuitvoerder"]) == "en"
    assert administration.tenant_language(db, tenants["gemeente-voorbeeld"]) == "nl"
    # a tenant whose connections disagree gets the default
    db.execute("UPDATE connections SET language = 'nl' WHERE code = 'pf_zorg'")
    assert administration.tenant_language(db, tenants["pensioenuitvoerder"]) == "nl"


def test_an_unknown_language_is_reported_with_its_path(tmp_path):
    with pytest.raises(ConfigError) as error:
        load(_config(tmp_path, "de"))
    assert any(p.startswith("tenants[0].connections[0].language") for p in error.value.problems), error.value.problems
