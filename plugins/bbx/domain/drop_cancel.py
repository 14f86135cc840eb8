"""The SFTP ``CANCEL`` marker (issue 18, docs/drop-protocol.md §2.6): a file in ``inbox/``
(not in a drop folder) named ``CANCEL``, ``CANCEL.txt`` or ``<anything>.cancel[.txt]``,
with ``key: value`` lines like the ``READY`` marker, naming the submission to cancel by
its number — the ``s<number>`` of every outbox file of the drop::

    submission: 12
"""

from __future__ import annotations

import re

from bbx.i18n import _

_NAME = re.compile(r"^(cancel(\.txt)?|.+\.cancel(\.txt)?)$", re.IGNORECASE)
MAX_MARKER_BYTES = 4096


class CancelMarkerError(ValueError):
    pass


def is_cancel_marker(name: str) -> bool:
    return bool(_NAME.match(name))


def parse_cancel_marker(data: bytes) -> int:
    """The submission number the marker names, or :class:`CancelMarkerError` saying what to fix."""
    if len(data) > MAX_MARKER_BYTES:
        raise CancelMarkerError(_("The CANCEL file is larger than {n} bytes; it holds one line "
                                  "'submission: <number>'.", n=MAX_MARKER_BYTES))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CancelMarkerError(_("The CANCEL file is not UTF-8 text; write one line 'submission: <number>'.")) \
            from None
    found: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep and not line.strip():
            continue
        if key.strip().lower() != "submission" or not sep:
            raise CancelMarkerError(_("Unknown line {line!r} in the CANCEL file; it holds one line "
                                      "'submission: <number>'.", line=line.strip()[:60]))
        found.append(value.strip().lstrip("sS"))
    if len(found) != 1 or not found[0].isdigit():
        raise CancelMarkerError(_("The CANCEL file must name one submission by its number, e.g. "
                                  "'submission: 12' (the s12 in the names of the drop's files in outbox/)."))
    return int(found[0])
