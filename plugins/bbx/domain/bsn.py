"""The BSN (burgerservicenummer) and its 11-test (elfproef).

A BSN is personal data: use :func:`mask` for one BSN and :func:`mask_text` for any text
that could hold one (file names, reasons, error messages) whenever it could reach a log
or a record kept for good. The one masker of BBX (the simulator has its own: it imports
nothing from ``bbx``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bbx.domain.limits import BSN_DIGITS
from bbx.i18n import _

# The weights 9..2, -1 applied to the ASCII codes: 48 * (9+8+...+2-1) is taken off once.
_ZEROS = 48 * (9 + 8 + 7 + 6 + 5 + 4 + 3 + 2 - 1)


def passes_eleven_test(digits: str) -> bool:
    """True when ``digits`` is nine digits, not all zero, and passes the 11-test.

    Unrolled over the bytes (no generator): intake applies it to every row of a
    million-row list (issue 17)."""
    if len(digits) != BSN_DIGITS or not digits.isascii() or not digits.isdigit() or digits == "000000000":
        return False
    b = digits.encode("ascii")
    return (9 * b[0] + 8 * b[1] + 7 * b[2] + 6 * b[3] + 5 * b[4] + 4 * b[5] + 3 * b[6] + 2 * b[7] - b[8]
            - _ZEROS) % 11 == 0


@dataclass(frozen=True)
class BsnCheck:
    """The outcome of checking one tenant-supplied value.

    ``bsn`` is the normalised nine-digit value when ``error`` is None. ``repaired`` says
    that a leading zero was restored (an 8-digit value a spreadsheet stripped).
    """

    bsn: str | None
    error: str | None = None
    repaired: bool = False
    reformatted: bool = False  # dots, dashes or inner spaces were removed


#: What Excel shows for a long number in a "General" cell: 3.69212E+08 (the digits are lost).
_SCIENTIFIC = re.compile(r"\d+(?:[.,]\d+)?[eE]\+?\d+")


def check(raw: str) -> BsnCheck:
    """Normalise and check a BSN as a tenant wrote it, with a reason a person can act on.

    Stray spaces, dots and dashes are ignored (``reformatted`` says so, for a note to the
    tenant). An 8-digit value is the well-known
    spreadsheet mistake (leading zero stripped): it is repaired only when the padded
    value passes the 11-test, and the result says so.
    """
    stripped = (raw or "").strip()
    value = stripped.replace(" ", "").replace(".", "").replace("-", "")
    if not value:
        return BsnCheck(None, _("BSN is empty"))
    if not value.isascii() or not value.isdigit():
        if _SCIENTIFIC.fullmatch(stripped):
            return BsnCheck(None, _("the BSN was turned into scientific notation by Excel (like 3.69212E+08), so its "
                               "digits are lost: format the BSN column as text and enter or paste the BSNs again"))
        return BsnCheck(None, _("BSN must contain digits only"))
    reformatted = value != stripped
    if len(value) == BSN_DIGITS - 1:
        padded = "0" + value
        if passes_eleven_test(padded):
            return BsnCheck(padded, None, repaired=True, reformatted=reformatted)
        return BsnCheck(
            None,
            _("BSN has 8 digits and does not pass the 11-test with a leading zero either "
              "(check the number; spreadsheets strip leading zeros: format the column as text)"),
        )
    if len(value) != BSN_DIGITS:
        return BsnCheck(None, _("BSN must have 9 digits, found {n}", n=len(value)))
    if value == "000000000":
        return BsnCheck(None, _("000000000 is not a BSN"))
    if not passes_eleven_test(value):
        return BsnCheck(None, _("BSN fails the 11-test (elfproef): check for a typing error"))
    return BsnCheck(value, reformatted=reformatted)


def mask(bsn: str | None) -> str:
    """A BSN fit for logs: only the last three digits stay (``******758``)."""
    if not bsn:
        return "<none>"
    return "*" * max(len(bsn) - 3, 0) + bsn[-3:]


# A BSN-like number: 8 or 9 digits not part of a longer number (8: a BSN whose leading
# zero a spreadsheet dropped). UUIDs (BerichtIDs, BatchIDs) and long hex strings (SHA-256)
# are matched first and kept whole, so their digit runs are not taken for BSNs. Letters,
# '_', '-' and '.' around a number do not protect it: ``123456782_1.pdf``, ``REF-123456782``.
_BSN_IN_TEXT = re.compile(
    r"(?P<keep>\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b"
    r"|(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Fa-f]))"
    r"|(?<!\d)(?P<bsn>\d{8,9})(?!\d)"
)


def mask_text(text: str) -> str:
    """``text`` with every BSN-like number masked (``******782``): THE masker for logs,
    error messages and what BBX keeps for good (a submission's reason, the audit log)."""
    return _BSN_IN_TEXT.sub(lambda m: m.group("keep") or mask(m.group("bsn")), text)


def generate(count: int, seed: int = 0, start: int = 100_000_000):
    """Yield ``count`` distinct valid test BSNs, deterministically from ``seed``.

    For tests, the demo and the simulator's population: walks numbers upward from an
    offset derived from the seed and keeps those passing the 11-test (about 1 in 11).
    """
    n = start + (seed * 7_919_993) % 800_000_000
    produced = 0
    while produced < count:
        if n > 999_999_999:
            n = 100_000_000
        candidate = f"{n:09d}"
        if passes_eleven_test(candidate):
            produced += 1
            yield candidate
        n += 1
