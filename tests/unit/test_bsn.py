import pytest

from bbx.domain import bsn

pytestmark = pytest.mark.usefixtures("english")  # these tests pin the English wording

# Known valid numbers (from public test sets and the spec's example).
VALID = ["249566758", "111222333", "123456782", "999999990"]
INVALID = ["249566757", "123456789", "000000000", "12345678a", "1234567890", ""]


@pytest.mark.parametrize("value", VALID)
def test_valid_numbers_pass(value):
    assert bsn.passes_eleven_test(value)
    assert bsn.check(value).bsn == value


@pytest.mark.parametrize("value", INVALID)
def test_invalid_numbers_fail(value):
    assert not bsn.passes_eleven_test(value)
    result = bsn.check(value)
    assert result.bsn is None
    assert result.error


def test_eight_digits_from_a_spreadsheet_get_their_leading_zero_back():
    # 012345672 is valid: 0*9+1*8+2*7+3*6+4*5+5*4+6*3+7*2-2 = 110, divisible by 11
    result = bsn.check("12345672")
    assert result == bsn.BsnCheck("012345672", None, repaired=True)


def test_eight_digits_that_stay_invalid_are_explained():
    result = bsn.check("12345678")
    assert result.bsn is None
    assert "8 digits" in result.error and "leading zero" in result.error


def test_spaces_dots_and_dashes_are_ignored():
    assert bsn.check(" 2495.66-758 ").bsn == "249566758"


def test_specific_reasons():
    assert bsn.check("").error == "BSN is empty"
    assert "digits only" in bsn.check("24956675X").error
    assert "9 digits, found 10" in bsn.check("2495667580").error
    assert "11-test" in bsn.check("249566757").error
    assert "not a BSN" in bsn.check("000000000").error


def test_mask_keeps_only_the_last_three_digits():
    assert bsn.mask("249566758") == "******758"
    assert bsn.mask(None) == "<none>"


def test_generate_is_deterministic_distinct_and_valid():
    first = list(bsn.generate(500, seed=7))
    assert first == list(bsn.generate(500, seed=7))
    assert len(set(first)) == 500
    assert all(bsn.passes_eleven_test(b) for b in first)
    assert set(first).isdisjoint(bsn.generate(500, seed=8))


def test_mask_text_is_the_one_masker_for_every_text():
    """One rule for logs, reasons and error messages (intake and GLOBE errors used to
    differ: one left ``123456782_1.pdf`` unmasked)."""
    b = "249566758"
    uuid = "12345678-1234-4234-8234-123456789012"
    sha = "0123456789" + "a" * 54
    cases = {
        f"{b}_1.pdf": "******758_1.pdf",
        f"REF-{b}": "REF-******758",
        f"bsn={b}, next": "bsn=******758, next",
        f"BSN{b}.": "BSN******758.",
        "12345678 (a BSN without its leading zero)": "*****678 (a BSN without its leading zero)",
        "0612345678 and 1234567890": "0612345678 and 1234567890",  # 10 digits: not a BSN
        f"BerichtID {uuid}": f"BerichtID {uuid}",  # identifiers stay whole
        f"sha256 {sha}": f"sha256 {sha}",
        f"Element 'BSN': [facet 'pattern'] {b} in Bericht {uuid}": f"Element 'BSN': [facet 'pattern'] ******758 in Bericht {uuid}",
    }
    for text, expected in cases.items():
        assert bsn.mask_text(text) == expected, text


def test_globe_errors_and_intake_use_the_same_masker():
    from bbx.domain import globe
    from bbx.intake import steps

    text = "value 249566758_1.pdf in 249566758-x"
    assert globe._redact(text) == steps.masked(text) == bsn.mask_text(text) == "value ******758_1.pdf in ******758-x"
