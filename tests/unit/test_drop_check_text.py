"""Texts from tenant files: the same character rule as the web service (XML's)."""

import pytest

from bbx.domain.drop_check import clean_text

pytestmark = pytest.mark.usefixtures("english")  # these tests pin the English wording


def test_a_character_xml_cannot_carry_is_refused_with_its_code_point():
    value, problem = clean_text("Beste\ufffe klant", "text", 4000, multiline=True)
    assert value is None
    assert problem == "the text contains the character U+FFFE, which XML cannot carry; remove it"


def test_line_breaks_become_crlf_and_count_twice():
    value, problem = clean_text("a\nb", "text", 4, multiline=True)
    assert (value, problem) == ("a\r\nb", None)
    value, problem = clean_text("ab\ncd", "text", 5, multiline=True)
    assert value is None and "6 characters (line breaks count as 2: CR LF)" in problem
