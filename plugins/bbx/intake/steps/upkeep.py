"""``housekeeping`` (the daily ``bbx_intake_housekeeping``): missing folders, and archived
drops and intake reports purged after the connection's retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bbx.hooks import tenant_sftp as sftp_folders
from bbx.intake import reports
from bbx.intake.steps.common import folders_of
from bbx.store import administration, db
from bbx.store import drops as drop_store


def housekeeping(*, now: datetime | None = None) -> dict:
    """For every connection: create missing folders (active ones); delete archived drops and
    intake reports in outbox/ older than the connection's retention (personal data does not
    stay). Other files in outbox/ (results, register exports) belong to their writers."""
    now = now or datetime.now(UTC)
    summary = {"folders_created": 0, "archives_purged": 0, "outbox_files_removed": 0}
    with db.connect() as conn:
        connections = administration.all_connections(conn)
    with sftp_folders.session() as client:
        for connection in connections:
            folders = folders_of(client, connection)
            if connection["active"]:
                summary["folders_created"] += len(folders.ensure_tree())
            cutoff = now - timedelta(days=connection["retention_days"])
            with db.transaction() as conn:
                old = drop_store.purgeable_archives(conn, connection["id"], cutoff)
                for item in old:
                    label = item["archive_path"].rsplit("/", 1)[-1] if item["archive_path"] else None
                    if label and folders.exists("archive", label):
                        folders.remove_tree("archive", label)
                    drop_store.mark_purged(conn, item["id"])
                    summary["archives_purged"] += 1
            for entry in folders.list("outbox"):
                if entry.kind == "file" and entry.name.endswith(reports.SUFFIXES) and entry.mtime is not None \
                        and datetime.fromtimestamp(entry.mtime, UTC) < cutoff:
                    folders.remove("outbox", entry.name)
                    summary["outbox_files_removed"] += 1
    return summary
