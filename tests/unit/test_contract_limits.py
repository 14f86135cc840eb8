"""BBX's limits against the simulator's own statement of Logius's rules.

The simulator keeps its facts in ``simulator/logius.py`` and imports nothing from
``bbx``; these tests are where the two readings meet. BBX may be stricter than Logius
(it refuses early, with a clear message), never looser: a letter BBX accepts and Logius
refuses reaches the tenant as a late failure. A difference is only allowed when it is
listed in DELIBERATE with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

from lxml import etree

from bbx.domain import bsn as bbx_bsn
from bbx.domain import limits as bbx
from simulator import logius

SIMULATOR_DIR = Path(logius.__file__).resolve().parent

# name -> (comparison, why). "max": BBX's value must be <= Logius's; "equal": must match.
SHARED_LIMITS = {
    "MAX_MESSAGES_PER_BATCH": "max",
    "MAX_BATCH_BYTES": "max",
    "MAX_SUPPLIER_ID_CHARS": "max",
    "MAX_MESSAGE_TYPE_CODE_CHARS": "max",
    "MAX_SUBJECT_CHARS": "max",
    "MAX_TEXT_CHARS": "max",
    "MAX_REFERENCE_CHARS": "max",
    "MAX_ATTACHMENTS_PER_MESSAGE": "max",
    "MAX_ATTACHMENT_DESCRIPTION_CHARS": "max",
    "MAX_ATTACHMENT_BYTES_PER_MESSAGE": "max",
    "MAX_PUBLICATION_DAYS_AHEAD": "max",
    "MAX_CREATION_DAYS_BACK": "max",
    "MAX_BSNS_PER_VALIDATE_CALL": "max",
    "OIN_DIGITS": "equal",
    "BSN_DIGITS": "equal",
}
# Limits where BBX is knowingly different from Logius, with the reason. Empty today.
DELIBERATE: dict[str, str] = {}


def test_bbx_never_accepts_what_logius_would_refuse():
    looser = []
    for name, how in SHARED_LIMITS.items():
        ours, theirs = getattr(bbx, name), getattr(logius, name)
        if name in DELIBERATE:
            continue
        if (how == "max" and ours > theirs) or (how == "equal" and ours != theirs):
            looser.append(f"{name}: BBX {ours:,} vs Logius (simulator) {theirs:,}")
    assert not looser, "BBX is looser than the simulator's Logius: " + "; ".join(looser)


def test_every_limit_on_both_sides_is_compared():
    # a new limit on either side must be placed in SHARED_LIMITS (or consciously left out)
    def names(module):
        return {n for n in vars(module) if n.isupper() and isinstance(getattr(module, n), int)}

    bbx_only = {
        "MAX_STANDARD_ATTACHMENTS_PER_MESSAGE_TYPE",  # product rule, before composition
        "MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE",  # product rule, before composition
    }
    assert names(bbx) - bbx_only == set(SHARED_LIMITS)
    assert names(logius) == set(SHARED_LIMITS)
    assert set(DELIBERATE) <= set(SHARED_LIMITS)


def test_five_hundred_kb_is_read_strictly_on_both_sides():
    assert bbx.MAX_ATTACHMENT_BYTES_PER_MESSAGE == logius.MAX_ATTACHMENT_BYTES_PER_MESSAGE
    assert logius.MAX_ATTACHMENT_BYTES_PER_MESSAGE == 500_000


def _facets(path: Path) -> dict[str, int]:
    """element name -> maxLength / maxOccurs as the official XSD states it."""
    tree = etree.parse(str(path))
    xs = "{http://www.w3.org/2001/XMLSchema}"
    found = {}
    for element in tree.iter(f"{xs}element"):
        name = element.get("name") or element.get("ref", "").rpartition(":")[2]
        max_length = element.find(f".//{xs}maxLength")
        if max_length is not None:
            found[name] = int(max_length.get("value"))
        if element.get("maxOccurs") not in (None, "unbounded"):
            found[name + "@maxOccurs"] = int(element.get("maxOccurs"))
    return found


def test_the_simulators_xsd_facts_are_the_official_xsd(shared_logius):
    request = shared_logius / "BerichtVerwerkService" / "Request"
    facets = _facets(request / "GLOBEBatchRequest.xsd") | _facets(
        request / "GLOBEBatchRequestTypes_128ch.xsd"
    )
    assert facets["Bericht@maxOccurs"] == logius.MAX_MESSAGES_PER_BATCH
    assert facets["BerichtLeverancierID"] == logius.MAX_SUPPLIER_ID_CHARS
    assert facets["BerichtType"] == logius.MAX_MESSAGE_TYPE_CODE_CHARS
    assert facets["Onderwerp"] == logius.MAX_SUBJECT_CHARS
    assert facets["BerichtTekst"] == logius.MAX_TEXT_CHARS
    assert facets["Referentie"] == logius.MAX_REFERENCE_CHARS
    assert facets["Bijlage@maxOccurs"] == logius.MAX_ATTACHMENTS_PER_MESSAGE
    assert facets["Omschrijving"] == logius.MAX_ATTACHMENT_DESCRIPTION_CHARS


def test_both_eleven_tests_agree():
    for n in range(100_000_000, 100_050_000):
        digits = f"{n:09d}"
        assert logius.passes_eleven_test(digits) == bbx_bsn.passes_eleven_test(digits)
    for odd in ("000000000", "24956675", "2495667580", "24956675x", "２４９５６６７５８"):
        assert logius.passes_eleven_test(odd) is bbx_bsn.passes_eleven_test(odd) is False
    assert logius.passes_eleven_test("249566758")


def test_the_simulator_imports_nothing_from_bbx():
    offenders = []
    for path in sorted(SIMULATOR_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {m}" for m in modules if m.split(".")[0] == "bbx"]
    assert not offenders
