"""Versioned standard texts (issue 18): the rules, in one place. Pure: no I/O.

A message type's standard text has versions, each from a source: ``config`` (the config
apply), ``sftp`` (a file ``standard-texts/<CODE>.txt`` in the tenant's drop area), ``api``
(``PUT /api/v1/message-types/{code}/standard-text``) or ``rollback`` (an operator made an
older version current again, as a new version with the same text).

Which version is current — the rule an operator can predict: **the newest one wins.**
The config apply adds a version only when the config's text differs from the text of the
last *config-sourced* version (see :func:`config_adds_version`); so re-applying an
unchanged config never undoes an upload, and changing the text in the config does.

A message records the version current when its rows were planned (written); it is built
and sent with that version's text, so a submission in flight keeps its text even when
a new version is uploaded or rolled back meanwhile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bbx.domain import rows as row_rules
from bbx.domain import templates
from bbx.i18n import _

SOURCES = ("config", "sftp", "api", "rollback")
MAX_UPLOAD_BYTES = 64_000  # 4000 characters of at most 4 bytes each, with room for a BOM and line ends


def config_adds_version(config_text: str | None, last_config_text: str | None, has_versions: bool) -> bool:
    """Whether a config apply adds a version: the first time, or when the config's text
    differs from what the config said last time (an upload since then is not undone
    by re-applying the same config)."""
    return not has_versions or config_text != last_config_text


def sha256(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Checked:
    text: str | None  # the text as stored (None: see problems)
    problems: tuple[str, ...] = ()


def check_upload(raw: bytes) -> Checked:
    """An uploaded standard text (a file or a request body): UTF-8 (a BOM is allowed),
    the text rules of a message text (characters, 4000 characters) and well-formed
    placeholders (a conditional part holds no placeholder)."""
    if len(raw) > MAX_UPLOAD_BYTES:
        return Checked(None, (_("the standard text is {size} bytes, at most {limit} allowed",
                                size=len(raw), limit=MAX_UPLOAD_BYTES),))
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Checked(None, (_("the standard text is not UTF-8 text (byte {position})", position=exc.start + 1),))
    cleaned = row_rules.text(decoded)
    if cleaned.problem:
        return Checked(None, (cleaned.problem.message,))
    if cleaned.value is None:
        return Checked(None, (_("the standard text is empty"),))
    problems = [
        _("the conditional part of (({name})) holds a placeholder, which is not allowed", name=name)
        for name, inner in templates.conditionals(cleaned.value) if "((" in inner]
    return Checked(None, tuple(problems)) if problems else Checked(cleaned.value)
