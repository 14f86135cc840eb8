"""A connection's population: the BSNs the tenant serves (pure rules, no I/O).

The tenant hands in its population (its "afnemersindicaties" in the BRP) as a BSN list:
over SFTP as a drop of kind ``population`` or through the web service. The list is
checked like any BSN list (``bbx.domain.bsn`` and ``bbx.domain.drop_check``: 11-test,
8-digit repair, each BSN once); it is never sent to MijnOverheid. It decides what the
register export holds (``register_export: population``) and splits the register reports.

Modes of a hand-in:

* ``full`` — the list is the whole population: BSNs not on it leave the population;
* ``additions`` — the BSNs join the population;
* ``removals`` — the BSNs leave it.
"""

from __future__ import annotations

from bbx.i18n import _

KIND_MESSAGES = "messages"
KIND_POPULATION = "population"
KINDS = (KIND_MESSAGES, KIND_POPULATION)
MODES = ("full", "additions", "removals")
DEFAULT_MODE = "full"

EXPORT_SCOPES = ("full", "population")


def parse_kind(value: object, problems: list[str]) -> str:
    """The drop's ``kind`` (default ``messages``)."""
    if value is None or value == "":
        return KIND_MESSAGES
    if not isinstance(value, str) or value.strip().lower() not in KINDS:
        problems.append(_("\"kind\" must be \"messages\" or \"population\", not {value}", value=repr(value)))
        return KIND_MESSAGES
    return value.strip().lower()


def parse_mode(value: object, problems: list[str]) -> str:
    """A population hand-in's ``mode`` (default ``full``)."""
    if value is None or value == "":
        return DEFAULT_MODE
    if not isinstance(value, str) or value.strip().lower() not in MODES:
        problems.append(_("\"mode\" must be one of {modes} (a population list), not {value}",
                          modes=", ".join(MODES), value=repr(value)))
        return DEFAULT_MODE
    return value.strip().lower()


def export_scope(value: object) -> tuple[bool, str]:
    """``register_export`` as configured → (export at all, scope).

    ``true`` keeps its meaning from before populations existed: the whole register.
    """
    if value is True or value == "full":
        return True, "full"
    if value == "population":
        return True, "population"
    return False, "full"


def list_problem(columns: tuple[str, ...], file_name: str) -> str | None:
    """A population list holds BSNs only: any other column rejects the drop (the tenant
    probably uploaded a message list to the wrong place)."""
    used = [c for c in columns if c]
    if used != ["bsn"]:
        return _("a population list holds one column of BSNs only; {file} also has {columns}: is this a "
                 "message list? Then leave out kind: population",
                 file=file_name, columns=", ".join(c for c in used if c != "bsn"))
    return None


def companion_name(csv_name: str) -> str:
    """The JSON companion of a register export (counts), next to its .sha256 file."""
    return csv_name[: -len(".csv")] + ".json" if csv_name.endswith(".csv") else csv_name + ".json"


def outside_count(subscribed_total: int, subscribed_in_population: int) -> int:
    return subscribed_total - subscribed_in_population
