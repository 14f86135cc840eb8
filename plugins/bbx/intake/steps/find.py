"""``find_drops``: complete drops in inbox/ and unfinished ones in processing/."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bbx.domain.drop import MANIFEST_NAME, ManifestError, manifest_complete, marker_of, parse_marker
from bbx.domain.drop_cancel import is_cancel_marker
from bbx.hooks import tenant_sftp as sftp_folders
from bbx.hooks.tenant_sftp import ConnectionFolders
from bbx.intake import settings
from bbx.intake.steps.cancel import handle_cancel
from bbx.intake.steps.common import connection_row, folders_of, masked
from bbx.intake.steps.standard_texts import FOLDER as STANDARD_TEXTS
from bbx.intake.steps.standard_texts import handle_standard_texts
from bbx.store import db, handins

log = logging.getLogger(__name__)


def find_drops(connection_code: str, *, now: datetime | None = None) -> list[dict]:
    """Complete drops in inbox/ and unfinished drops in processing/ (resumed first).
    ``CANCEL`` markers in inbox/ are handled on the way (``bbx.intake.steps.cancel``), and
    so are standard texts in inbox/standard-texts/ (``bbx.intake.steps.standard_texts``)."""
    now = now or datetime.now(UTC)
    with db.connect() as conn:
        connection = connection_row(conn, connection_code)
    found: list[dict] = []
    with sftp_folders.session() as client:
        folders = folders_of(client, connection)
        created = folders.ensure_tree()
        if created:
            log.info("created SFTP folders: %s", ", ".join(created))
        in_processing = [e.name for e in folders.list("processing") if e.kind == "dir"]
        found += [{"connection": connection_code, "name": n, "stage": "processing"} for n in in_processing]
        if problem := handins.connection_problem(connection):
            # like the web service (409): no new hand-in; the drops wait in inbox/ (those
            # already received are finished, and delivery holds them until it is active)
            log.warning("inbox/ is not read: %s", problem.message)
        for entry in folders.list("inbox") if problem is None else ():
            if entry.kind == "file" and is_cancel_marker(entry.name):
                handle_cancel(folders, connection, entry.name)  # a CANCEL marker (drop-protocol §2.6)
                continue
            if entry.kind == "dir" and entry.name == STANDARD_TEXTS:
                handle_standard_texts(folders, connection)  # new standard texts (drop-protocol §2.7)
                continue
            if entry.kind != "dir":
                log.warning("inbox/%s is not a drop folder and is ignored (a drop is a folder with a marker)",
                            masked(entry.name))
                continue
            if entry.name in in_processing:
                log.info("inbox/%s waits: a drop of the same name is still in processing/", masked(entry.name))
                continue
            if _is_complete(folders, entry.name, now):
                found.append({"connection": connection_code, "name": entry.name, "stage": "inbox"})
            else:
                log.info("inbox/%s is not complete yet (no marker, or manifest files still arriving)",
                         masked(entry.name))
    if len(found) > settings.MAX_DROPS_PER_RUN:
        log.info("%d drops waiting; this run takes %d, the next poll the rest", len(found), settings.MAX_DROPS_PER_RUN)
        found = found[: settings.MAX_DROPS_PER_RUN]
    log.info("%d drop(s) to process for %s", len(found), connection_code)
    return found


def _is_complete(folders: ConnectionFolders, name: str, now: datetime) -> bool:
    listing = {e.name: e for e in folders.list("inbox", name)}
    marker = marker_of(n for n, e in listing.items() if e.kind == "file")
    if marker is None:
        return False
    if marker.lower() != MANIFEST_NAME:
        return True
    mtime = listing[marker].mtime
    overdue = mtime is not None and now - datetime.fromtimestamp(mtime, UTC) > settings.MANIFEST_GRACE
    try:
        manifest = parse_marker(marker, folders.read_bytes("inbox", name, marker))
    except ManifestError as exc:
        # half-written text may still be arriving: rejected once overdue; a whole manifest
        # with a wrong value (e.g. send_at) is judged now, like a READY marker
        return overdue or not exc.unfinished
    return manifest_complete(manifest, listing) or overdue

