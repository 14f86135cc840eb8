"""Fill-in templates (bbx.domain.templates): placeholders, conditional parts, the checks."""

from __future__ import annotations

import pytest

from bbx.domain import templates
from bbx.domain.limits import MAX_TEXT_CHARS

pytestmark = pytest.mark.usefixtures("english")  # these tests pin the English wording

LETTER = "Beste ((naam)),\nUw adres: ((Adres)).((heeft_partner??\nUw partner krijgt ook een brief.)) Groet, ((naam))"


def test_placeholders_in_order_once_case_insensitive():
    assert templates.placeholders(LETTER) == ["naam", "adres", "heeft_partner"]
    assert templates.is_template(LETTER) and not templates.is_template("Geen (haakjes) hier")


def test_filled_with_values_conditional_shown_or_left_out():
    yes = templates.fill(LETTER, {"Naam": " J. Jansen ", "adres": "Dorpsstraat 1", "heeft_partner": "Ja"})
    assert yes.problems == ()
    assert yes.text == ("Beste J. Jansen,\r\nUw adres: Dorpsstraat 1.\r\nUw partner krijgt ook een brief. "
                        "Groet, J. Jansen")
    no = templates.fill(LETTER, {"naam": "A", "adres": "B", "heeft_partner": "nee"})
    assert no.text == "Beste A,\r\nUw adres: B. Groet, A"


def test_missing_unknown_and_invalid_values_each_name_their_placeholder():
    result = templates.fill(LETTER, {"naam": "A", "adress": "B", "heeft_partner": "misschien"})
    assert result.text is None
    assert [(p.code, p.message.split(")")[0]) for p in result.problems] == [
        ("placeholder_missing", "the standard text needs a value for ((adres"),
        ("placeholder_unknown", "((adress"),
        ("placeholder_invalid", "the value of ((heeft_partner"),
    ]
    assert "ja or nee" in result.problems[2].message


def test_the_filled_text_obeys_the_text_rules():
    too_long = templates.fill("((naam))", {"naam": "x" * (MAX_TEXT_CHARS + 1)})
    assert [p.code for p in too_long.problems] == ["too_long"]
    assert too_long.problems[0].message.startswith("the filled-in standard text: the text is 4,001 characters")
    control = templates.fill("Beste ((naam))", {"naam": "a\x85b"})
    assert [p.code for p in control.problems] == ["invalid_character"]


def test_for_row_fills_only_a_template_used_by_the_row():
    source = templates.GivenValues({"naam": "A"})
    assert templates.for_row("Plain text", None, "1", templates.NO_VALUES) is None
    assert templates.for_row("Beste ((naam))", None, "1", source).text == "Beste A"
    own = templates.for_row("Beste ((naam))", "eigen tekst", "1", source)
    assert own.text is None and "the row has its own text" in own.problems[0].message
    assert templates.for_row("Beste ((naam))", "eigen tekst", "1", templates.NO_VALUES) is None


def test_a_value_source_by_bsn_is_the_same_interface():
    class Register:  # the seam for a later BRP source: values by BSN
        def values(self, bsn):
            return {"naam": {"1": "Een", "2": "Twee"}[bsn]}

    assert templates.for_row("Beste ((naam))", None, "2", Register()).text == "Beste Twee"


def test_the_rule_messages_are_dutch_by_default():
    from bbx.i18n import language

    with language("nl"):
        filled = templates.fill("Beste ((naam)),", {"adres": "Dorpsstraat 1"})
    assert [p.message for p in filled.problems] == [
        "de standaardtekst heeft een waarde nodig voor ((naam)): geef die voor deze burger",
        "((adres)) is geen invulveld van de standaardtekst (die heeft ((naam))): verwijder de waarde of verbeter "
        "de naam"]
