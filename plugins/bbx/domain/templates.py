"""Fill-in templates: a message type's standard text with placeholders, filled per citizen
(the style tenants know from GOV.UK Notify). Pure: no I/O.

- ``((naam))`` is replaced by the citizen's value for ``naam``;
- ``((heeft_partner??Uw partner krijgt ook een brief.))`` shows the text after ``??`` only
  when the value of ``heeft_partner`` is yes (``ja``, ``yes``, ``true``, ``1``) and leaves
  it out when it is no (``nee``, ``no``, ``false``, ``0``, empty); anything else is a row
  error. The conditional text itself may not hold placeholders.

Names are letters, digits, ``_`` and ``-``, case-insensitive. The values come from a
:class:`ValueSource` (one interface for every source: the extra columns of a drop's list,
the web service's ``values`` of a message, the manual page; later the BRP by BSN). They
are checked before anything is sent, per row: a placeholder without a value, or a value
for a name the text does not have (a typing error in a column name), is a row problem
naming the placeholder; the filled text then obeys the text rules of
:mod:`bbx.domain.rows` (characters, 4000-character limit).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bbx.domain import rows as row_rules
from bbx.i18n import _

_PLACEHOLDER = re.compile(r"\(\(\s*([A-Za-z0-9_-]+)\s*(?:\?\?(.*?))?\)\)", re.DOTALL)
_YES = frozenset({"ja", "yes", "true", "1", "j", "y"})
_NO = frozenset({"nee", "no", "false", "0", "n", ""})


class ValueSource(Protocol):
    """Where a citizen's values come from (the seam for a later BRP source)."""

    def values(self, bsn: str) -> Mapping[str, str]:
        """The values for ``bsn``: name → value (names as given; empty mapping: none)."""


@dataclass(frozen=True)
class GivenValues:
    """Values given with the row itself (list columns, a message's ``values``, a form)."""

    given: Mapping[str, str]

    def values(self, bsn: str) -> Mapping[str, str]:
        return self.given


NO_VALUES = GivenValues({})


def placeholders(template: str | None) -> list[str]:
    """The placeholder names of ``template`` in order of first use (lower case)."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(template or ""):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def conditionals(template: str | None) -> list[tuple[str, str]]:
    """The conditional parts of ``template``: (name, the text after ``??``)."""
    return [(m.group(1).lower(), m.group(2)) for m in _PLACEHOLDER.finditer(template or "") if m.group(2) is not None]


def is_template(text: str | None) -> bool:
    return bool(text) and _PLACEHOLDER.search(text) is not None


@dataclass(frozen=True)
class Filled:
    text: str | None  # the filled text as stored and sent (None: see problems)
    problems: tuple[row_rules.Problem, ...] = ()


def fill(template: str, values: Mapping[str, str | None]) -> Filled:
    """``template`` filled with ``values``, or every problem (each naming its placeholder)."""
    given = {str(k).strip().lower(): ("" if v is None else str(v).strip()) for k, v in values.items()}
    names = placeholders(template)
    conditionals = {m.group(1).lower() for m in _PLACEHOLDER.finditer(template) if m.group(2) is not None}
    # an empty value is "not given" (an empty cell), except for a condition, where it is "no"
    problems = [
        row_rules.Problem("values", "placeholder_missing",
                          _("the standard text needs a value for (({name})): give it for this citizen", name=name))
        for name in names if name not in given or (not given[name] and name not in conditionals)]
    problems += [
        row_rules.Problem("values", "placeholder_unknown",
                          _("(({name})) is not a placeholder of the standard text (it has {known}): remove the "
                            "value or correct its name", name=name, known=", ".join(f"(({n}))" for n in names))
                          if names else
                          _("(({name})) is not a placeholder of the standard text: remove the value or correct its "
                            "name", name=name))
        for name in given if name not in names]
    for name in sorted(conditionals & given.keys()):
        if given[name].lower() not in _YES | _NO:
            problems.append(row_rules.Problem(
                "values", "placeholder_invalid",
                _("the value of (({name})) must be ja or nee (yes or no), not {value}", name=name,
                  value=repr(given[name][:20]))))
    if problems:
        return Filled(None, tuple(problems))

    def replace(match: re.Match) -> str:
        value = given[match.group(1).lower()]
        if match.group(2) is None:
            return value
        return match.group(2) if value.lower() in _YES else ""

    cleaned = row_rules.text(_PLACEHOLDER.sub(replace, template))
    if cleaned.problem:
        return Filled(None, (row_rules.Problem(
            "text", cleaned.problem.code, _("the filled-in standard text: {problem}",
                                            problem=cleaned.problem.message)),))
    return Filled(cleaned.value)


def for_row(standard_text: str | None, personal_text: str | None, bsn: str | None,
            source: ValueSource) -> Filled | None:
    """The filled standard text for a row that uses it (no personal text) when the standard
    text is a template; None when nothing is to be filled (a plain standard text, or the
    row has its own text — then values are refused: they would fill nothing)."""
    values = source.values(bsn or "") if source is not None else {}
    if personal_text is not None or not is_template(standard_text):
        if any(str(v or "").strip() for v in values.values()):
            return Filled(None, (row_rules.Problem(
                "values", "placeholder_unknown",
                _("values are given but there is nothing to fill in: the row has its own text; remove them")
                if personal_text is not None else
                _("values are given but there is nothing to fill in: the standard text has no placeholders; "
                  "remove them")),))
        return None
    return fill(standard_text, values)
