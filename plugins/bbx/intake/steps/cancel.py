"""``CANCEL`` markers in ``inbox/`` (``bbx.domain.drop_cancel``): handled by ``find_drops``
before it lists the drops, one at a time, each to an answer in ``outbox/``:

- ``<marker>.s<N>.cancel.json``: what was cancelled, and how many were already with
  MijnOverheid (``bbx.store.cancel.CancelResult``);
- ``<marker>.cancel-refused.txt``: why nothing was cancelled (a broken marker, a
  submission of another connection or none, one still being received).

Safe to repeat after a crash: a cancel is idempotent; the marker is removed only after
its answer is in ``outbox/``.
"""

from __future__ import annotations

import json
import logging

from bbx.delivery import control
from bbx.domain.drop_cancel import CancelMarkerError, parse_cancel_marker
from bbx.hooks.tenant_sftp import ConnectionFolders
from bbx.i18n import _
from bbx.intake.steps.common import masked
from bbx.store import db, lookup
from bbx.store.cancel import NotCancellable

log = logging.getLogger(__name__)


def handle_cancel(folders: ConnectionFolders, connection: dict, name: str) -> str:
    """Cancel what the marker ``inbox/<name>`` names; returns the answer's file name."""
    try:
        submission_id = parse_cancel_marker(folders.read_bytes("inbox", name))
        with db.connect() as conn:
            sub = lookup.submission(conn, submission_id)
            if sub is None or sub["connection_id"] != connection["id"]:
                raise NotCancellable(_("Connection {code} has no submission {id}: see the s<number> in the names "
                                       "of your files in outbox/.", code=connection["code"], id=submission_id))
            result = control.cancel(submission_id, actor=f"sftp:{connection['code']}:{name}", conn=conn)
    except (CancelMarkerError, NotCancellable) as exc:
        answer = f"{name}.cancel-refused.txt"
        folders.upload((_("Nothing was cancelled.") + "\r\n" + str(exc) + "\r\n").encode(), "outbox", answer)
        log.warning("inbox/%s: cancel refused: %s", masked(name), exc)
    else:
        answer = f"{name}.s{submission_id}.cancel.json"
        folders.upload(json.dumps(result.as_dict(), indent=2, ensure_ascii=False).encode(), "outbox", answer)
        log.info("inbox/%s: submission %s: %d cancelled, %d already with MijnOverheid", masked(name),
                 submission_id, result.cancelled, result.not_cancelled)
    folders.remove("inbox", name)
    return answer
