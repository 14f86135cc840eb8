"""Re-extracting the marked texts and updating the catalogues: ``make messages``.

``python -m bbx.i18n_catalogues`` extracts every ``_("...")`` from ``plugins/bbx`` (the
Python code and the Jinja2 templates under ``api/templates``) with Babel and updates
``locale/nl`` and ``locale/en``: new texts are added (English: the id as its text, a
translator may refine it; Dutch: empty until translated), texts no longer in the code
are dropped, existing translations are kept. Locations are written without line numbers
so that unrelated edits do not churn the files. ``--check`` changes nothing and exits 1
when a catalogue is out of date or has an empty translation (what ``tests/unit/test_i18n.py``
also checks, with the texts named).
"""

from __future__ import annotations

import argparse
import io
import string
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bbx import i18n

SOURCE_DIR = Path(__file__).parent
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**/static/**.js", "javascript"), ("**.py", "python")]
OPTIONS = {"**.html": {"extensions": "", "silent": "false"}}
KEYWORDS = {"_": None, "T": None}  # T: the pages' JavaScript (bbx.api.language.js_texts)


def extract() -> Catalog:
    """Every marked text of the source, as a template catalogue (msgid → locations)."""
    template = Catalog(project="BBX", domain=i18n.DOMAIN, fuzzy=False)
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(SOURCE_DIR), METHOD_MAP, OPTIONS, KEYWORDS, comment_tags=(), strip_comment_tags=True,
    ):
        if not message or not isinstance(message, str):
            continue
        template.add(message, locations=[(f"bbx/{filename}", None)])
    return template


def po_path(lang: str) -> Path:
    return i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


def read(lang: str) -> Catalog:
    path = po_path(lang)
    if not path.is_file():
        return Catalog(locale=lang, project="BBX", domain=i18n.DOMAIN, fuzzy=False)
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def updated(lang: str, template: Catalog) -> Catalog:
    catalog = read(lang)
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    catalog.obsolete.clear()
    catalog.fuzzy = False
    if lang == "en":  # the ids are English: a new text starts as itself
        for message in catalog:
            if message.id and not message.string:
                message.string = message.id
    return catalog


def render(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False,
             ignore_obsolete=True)
    # the header's creation date changes on every run: keep it out of the comparison
    return b"\n".join(line for line in out.getvalue().split(b"\n") if not line.startswith(b'"POT-Creation-Date'))


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a text (``{n:,}`` counts as ``n``)."""
    try:
        return {field.split(".")[0].split("[")[0] for _lit, field, _spec, _conv in string.Formatter().parse(text)
                if field is not None}
    except ValueError:
        return {"<unbalanced braces>"}


def problems(lang: str, template: Catalog | None = None) -> list[str]:
    """What is wrong with one catalogue against the source: missing, empty, fuzzy, or
    with other placeholders than its id."""
    template = template or extract()
    catalog = read(lang)
    found = []
    for message in template:
        if not message.id:
            continue
        entry = catalog.get(message.id)
        where = ", ".join(sorted({loc for loc, _ in message.locations}))
        if entry is None:
            found.append(f"{lang}: missing {message.id!r} ({where})")
        elif not entry.string:
            found.append(f"{lang}: empty translation of {message.id!r} ({where})")
        elif entry.fuzzy:
            found.append(f"{lang}: fuzzy translation of {message.id!r} ({where})")
        elif placeholders(entry.string) != placeholders(message.id):
            found.append(f"{lang}: placeholders {sorted(placeholders(entry.string))} in the translation of "
                         f"{message.id!r}, the id has {sorted(placeholders(message.id))}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bbx.i18n_catalogues", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when out of date or incomplete")
    args = parser.parse_args(argv)
    template = extract()
    stale = []
    for lang in i18n.LANGUAGES:
        path = po_path(lang)
        new = render(updated(lang, template))
        old = render(read(lang)) if path.is_file() else b""
        if new != old:
            stale.append(lang)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(new)
    missing = [p for lang in i18n.LANGUAGES for p in problems(lang, template)]
    print(f"{len(template)} texts; catalogues {'out of date: ' + ', '.join(stale) if stale else 'up to date'}"
          + ("" if args.check or not stale else " (updated)"))
    for p in missing:
        print("  " + p)
    if args.check:
        return 1 if stale or missing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
