"""Writing a submission's result file and undeliverable list into the tenant's outbox.

``<sftp_folder>/outbox/<name>`` through BBX's SFTP hook (``bbx.hooks.tenant_sftp``, as intake:
Airflow Connection ``bbx_sftp``, the same connection retries, the same atomic upload as
a hidden ``.<name>.part`` renamed when complete, so a tenant never picks up half a file).
The CSV is streamed from PostgreSQL into a local temporary file first: a million-row
result file never sits in memory.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Iterable
from pathlib import Path


def outbox_of(sftp_folder: str) -> str:
    return posixpath.join(sftp_folder.rstrip("/") or "/", "outbox")


def write_to_outbox(submission: dict, files: list[tuple[str, Iterable[bytes]]], *,
                    sftp_conn_id: str | None = None) -> list[str]:
    """Write each ``(file name, chunks)`` into the outbox of ``submission``'s connection
    (a dict with ``sftp_folder``), in one SFTP session. Returns the paths written."""
    from bbx.hooks.tenant_sftp import session

    written = []
    with tempfile.TemporaryDirectory(prefix="bbx-results-") as tmp, session(sftp_conn_id) as hook:
        folders = hook.folders(submission["sftp_folder"])
        folders.ensure_tree()
        for file_name, chunks in files:
            local = Path(tmp) / file_name
            with local.open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            folders.upload(local, "outbox", file_name)
            written.append(folders.path("outbox", file_name))
    return written


def remove_from_outbox(submission: dict, file_names: list[str], *, sftp_conn_id: str | None = None) -> list[str]:
    """Remove files from the outbox of ``submission``'s connection; returns those that were
    there (a file the tenant already deleted is fine)."""
    from bbx.hooks.tenant_sftp import session

    removed = []
    with session(sftp_conn_id) as hook:
        folders = hook.folders(submission["sftp_folder"])
        for name in file_names:
            if folders.exists("outbox", name):
                folders.remove("outbox", name)
                removed.append(folders.path("outbox", name))
    return removed


def folder_writer(root: Path):
    """A writer into a local folder tree laid out like the SFTP root (the demo's
    ``demo-out/``, tests): ``<root><sftp_folder>/outbox/<name>``."""

    def write(submission: dict, files: list[tuple[str, Iterable[bytes]]]) -> list[str]:
        folder = root / outbox_of(submission["sftp_folder"]).lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for file_name, chunks in files:
            target = folder / file_name
            part = folder / f".{file_name}.part"
            with part.open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            part.replace(target)
            written.append(str(target))
        return written

    return write
