"""The language seam and its catalogues: every marked text is translated in Dutch and
English, with the placeholders of its id; ``_`` follows the current language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bbx import i18n, i18n_catalogues
from bbx.i18n import _, language


@pytest.fixture(scope="module")
def template():
    return i18n_catalogues.extract()


def test_the_source_has_marked_texts(template):
    ids = {m.id for m in template if m.id}
    assert len(ids) > 100  # the pages, the API errors, the tenant's reports
    assert "There is no BBX page at this address." in ids  # from api/pages.py
    assert "Look up a BSN" in ids  # from a Jinja2 template


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_marked_text_is_translated_with_the_same_placeholders(lang, template):
    problems = i18n_catalogues.problems(lang, template)
    assert not problems, f"{len(problems)} problem(s); run `make messages` and translate:\n" + "\n".join(problems[:40])


def test_the_catalogues_have_no_texts_the_code_no_longer_marks(template):
    ids = {m.id for m in template if m.id}
    for lang in i18n.LANGUAGES:
        extra = sorted(set(i18n.catalogue(lang)) - ids)
        assert not extra, f"{lang}: not in the code any more (run `make messages`): {extra[:10]}"


def test_the_check_finds_a_missing_text_and_a_wrong_placeholder(tmp_path, monkeypatch, template):
    """The check itself can fail: a catalogue without one text, and one whose translation
    renamed a placeholder, are both reported."""
    from babel.messages.pofile import write_po

    catalog = i18n_catalogues.read("nl")
    with_field = next(m.id for m in template if m.id and i18n_catalogues.placeholders(m.id))
    dropped = next(m.id for m in template if m.id and m.id != with_field)
    del catalog[dropped]
    catalog[with_field].string = "{renamed} " + catalog[with_field].string.replace("{", "{x")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    path = tmp_path / "nl" / "LC_MESSAGES" / "bbx.po"
    path.parent.mkdir(parents=True)
    with path.open("wb") as f:
        write_po(f, catalog)
    found = i18n_catalogues.problems("nl", template)
    assert any("missing" in p and repr(dropped) in p for p in found)
    assert any("placeholders" in p and repr(with_field) in p for p in found)


def test_placeholders_are_the_format_fields():
    assert i18n_catalogues.placeholders("{n:,} of {total} rows in {file!r}") == {"n", "total", "file"}
    assert i18n_catalogues.placeholders("no fields") == set()


def test_dutch_is_the_default_and_english_is_available():
    text = "There is no BBX page at this address."
    assert i18n.current_language() == "nl"
    assert _(text) != text and _(text) == i18n.catalogue("nl")[text]
    with language("en"):
        assert i18n.current_language() == "en"
        assert _(text) == text
    assert i18n.current_language() == "nl"


def test_placeholders_are_filled_in_either_language():
    msgid = "You have no submission {id}; GET /api/v1/submissions lists yours."
    assert "4711" in _(msgid, id=4711) and _(msgid, id=4711) != msgid.format(id=4711)
    with language("en"):
        assert _(msgid, id=4711) == msgid.format(id=4711)


def test_counts_are_written_as_the_language_writes_them():
    assert i18n.number(10_000) == "10.000" and i18n.number(1_234_567) == "1.234.567"
    with language("en"):
        assert i18n.number(10_000) == "10,000"
    from jinja2 import Environment

    env = Environment(autoescape=True)
    i18n.install_jinja(env)
    page = env.from_string('{{ _("{n} personal PDFs for one message; at most {max} are allowed: combine them '
                           'into fewer PDFs", n=count | number, max=2) }}')
    assert page.render(count=12_500).startswith("12.500 persoonlijke pdf&#39;s voor één bericht")
    with language("en"):
        assert page.render(count=12_500).startswith("12,500 personal PDFs")


def test_drop_and_pdf_problems_are_translated_when_they_are_written():
    from bbx.domain import attachments, drop

    def problems() -> list[str]:
        try:
            drop.parse_marker("READY", b"message_type: UPO2026\nkleur: blauw\n")
        except drop.ManifestError as exc:
            marker = str(exc)
        big = drop.classify(drop.ListedFile("a.csv", 600 * 1024 * 1024))
        return [marker, big.problem, attachments.inspect_pdf(b"\x89PNG...").reason]

    assert problems() == [
        "READY is geen geldige READY-marker: regel 2: onbekende sleutel 'kleur' (bekend: message_type, drop_id, "
        "pdfs_per_bsn, separator, kind, mode, send_at, publication_date)",
        "het bestand is 629.145.600 bytes; hoogstens 536.870.912 bytes per bestand worden geaccepteerd: "
        "splits de aanlevering",
        "geen pdf: het bestand is een PNG-afbeelding; exporteer of print het als pdf"]
    with language("en"):
        assert problems() == [
            "READY is not a valid ready marker: line 2: unknown key 'kleur' (known: message_type, drop_id, "
            "pdfs_per_bsn, separator, kind, mode, send_at, publication_date)",
            "the file is 629,145,600 bytes; at most 536,870,912 bytes per file are accepted: split the drop",
            "not a PDF: the file is a PNG image; export or print it as PDF"]


def test_a_tenant_setting_does_not_override_an_explicit_choice():
    with language("en", explicit=True):
        i18n.prefer("nl")
        assert i18n.current_language() == "en"
    with language("nl", explicit=False):
        i18n.prefer("en")
        assert i18n.current_language() == "en"
    i18n.prefer("en")  # outside a request: no effect
    assert i18n.current_language() == "nl"


@pytest.mark.parametrize(("value", "expected"), [("nl-NL", "nl"), ("EN_gb", "en"), ("de", "nl"), (None, "nl")])
def test_normalise(value, expected):
    assert i18n.normalise(value) == expected


def test_local_time_says_its_zone():
    assert i18n.local_time(datetime(2026, 12, 2, 8, 15, tzinfo=UTC)) == "2026-12-02 09:15 (CET)"
    assert i18n.local_time(datetime(2026, 7, 1, 8, 15, 9, tzinfo=UTC), seconds=True) == "2026-07-01 10:15:09 (CEST)"
    assert i18n.local_time(None) == ""


def test_a_result_file_has_its_headers_and_explanations_in_one_language():
    from bbx.domain import delivery

    row = {"row_number": 1, "bsn": "123456782", "outcome": "delivered", "outcome_code": "Verwerkt",
           "outcome_reason": None, "message_id": "m1", "final_at": datetime(2026, 12, 2, 8, 15, tzinfo=UTC),
           "corrected_from": "failed", "corrected_from_code": "TechnischProbleem", "standard_text_version": 2}

    def lines(lang):
        with language(lang):
            return b"".join(delivery.result_file_rows([row], corrected=True)).decode("utf-8-sig").splitlines()

    dutch, english = lines("nl"), lines("en")
    assert dutch[0] == "regel;bsn;uitkomst;outcome;code;toelichting;bericht_id;afgerond_op;correctie;standaardtekst_versie"
    assert dutch[1].startswith("1;123456782;bezorgd;delivered;Verwerkt;;m1;2026-12-02 09:15:00;\"gecorrigeerd: eerder gemeld als mislukt")
    assert english[0] == "row;bsn;result;outcome;code;explanation;message_id;final_at;correction;standard_text_version"
    assert english[1].startswith("1;123456782;delivered;delivered;Verwerkt;;m1;2026-12-02 09:15:00;\"corrected: reported before as failed")
    assert dutch[1].endswith(";2") and english[1].endswith(";2")  # the standard-text version, last
    with language("en"):
        header = b"".join(delivery.undeliverable_rows([])).decode("utf-8-sig").strip()
    assert header == "bsn;row;result;code;explanation"
