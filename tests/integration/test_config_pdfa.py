"""The connection setting ``pdfa: warn|strict`` (tenant configuration → BBX's database)."""

import shutil
from pathlib import Path

import pytest
import yaml

from bbx.config.model import ConfigError, load
from bbx.store import administration

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "config" / "sample"


def _config(tmp_path: Path, pdfa) -> Path:
    shutil.copytree(SAMPLE_DIR, tmp_path / "sample")
    path = tmp_path / "sample" / "tenants.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["tenants"][0]["connections"][0]["pdfa"] = pdfa
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_pdfa_defaults_to_warn_and_strict_reaches_the_database(db, tmp_path):
    assert {c.pdfa for t in load(SAMPLE_DIR / "tenants.yaml").tenants for c in t.connections} == {"warn"}
    administration.apply_config(db, load(_config(tmp_path, "strict")), actor="test")
    rows = db.execute("SELECT code, pdfa FROM connections ORDER BY code").fetchall()
    assert {r["code"]: r["pdfa"] for r in rows} == {"pf_metaal": "warn", "pf_zorg": "warn", "voorbeeld": "strict"}


def test_an_unknown_pdfa_value_is_reported_with_its_path(tmp_path):
    with pytest.raises(ConfigError) as error:
        load(_config(tmp_path, "lenient"))
    assert any(p.startswith("tenants[0].connections[0].pdfa") for p in error.value.problems), error.value.problems
