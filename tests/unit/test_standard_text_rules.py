"""The rules of versioned standard texts (bbx.domain.standard_texts): when the config
adds a version, and what an upload must be."""

from __future__ import annotations

from bbx.domain import standard_texts as rules


def test_the_config_adds_a_version_only_when_its_own_text_changed():
    assert rules.config_adds_version("Tekst", None, has_versions=False)  # the first apply
    assert not rules.config_adds_version("Tekst", "Tekst", has_versions=True)  # an upload since then stays
    assert rules.config_adds_version("Nieuwe tekst", "Tekst", has_versions=True)
    assert rules.config_adds_version(None, "Tekst", has_versions=True)  # the config took the text away


def test_an_upload_is_utf8_text_within_the_limits_with_well_formed_placeholders(english):
    ok = rules.check_upload("\ufeffBeste ((naam)),\r\n((partner??Uw partner ook.))\r\n".encode())
    assert ok.problems == () and ok.text == "Beste ((naam)),\r\n((partner??Uw partner ook.))"
    for raw, word in ((b"\xff\xfe", "UTF-8"), (b"  \r\n ", "empty"), (b"x" * 4001, "4,000"),
                      (b"((a??b ((c)) d))", "((a))"), (b"x" * 70_000, "bytes")):
        checked = rules.check_upload(raw)
        assert checked.text is None and word in " ".join(checked.problems), (raw[:20], checked.problems)
