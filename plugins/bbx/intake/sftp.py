"""A connection's folder tree on SFTP, through the Airflow SFTP provider's hook.

Tree below the connection's ``sftp_folder`` (see docs/drop-protocol.md)::

    inbox/<drop>/        the tenant uploads drops here
    processing/<drop>/   BBX's: a drop being processed (moved here first, atomically)
    archive/<drop>.s<N>/ BBX's: processed drops (N = submission number), until retention
    outbox/              BBX's answers: acknowledgements and error reports

Every write a tenant can see is atomic: files are uploaded under a temporary name and
renamed; drops are moved with one rename.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from bbx.domain.drop import ListedFile
from bbx.intake import settings


class _HashingWriter:
    """A file-like sink for paramiko's getfo: hashes (and optionally keeps) what it gets."""

    def __init__(self, target: BinaryIO | None = None):
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.target = target

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        if self.target is not None:
            self.target.write(data)
        return len(data)


def _kind(mode: int | None) -> str:
    if mode is None:
        return "other"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


class ConnectionFolders:
    """The folders of one connection on an open SFTP session (paramiko ``SFTPClient``)."""

    def __init__(self, sftp, base: str):
        self.sftp = sftp
        self.base = base.rstrip("/") or "/"

    def path(self, *parts: str) -> str:
        return posixpath.join(self.base, *parts)

    # ------------------------------------------------------------------ reading
    def exists(self, *parts: str) -> bool:
        try:
            self.sftp.lstat(self.path(*parts))
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            if getattr(exc, "errno", None) == 2:
                return False
            raise

    def list(self, *parts: str) -> list[ListedFile]:
        """Entries of a folder (links are reported as links, never followed)."""
        try:
            entries = self.sftp.listdir_attr(self.path(*parts))
        except FileNotFoundError:
            return []
        return sorted(
            (ListedFile(e.filename, e.st_size or 0, _kind(e.st_mode), e.st_mtime) for e in entries),
            key=lambda e: e.name,
        )

    def read_bytes(self, *parts: str) -> bytes:
        with self.sftp.open(self.path(*parts), "rb") as handle:
            handle.prefetch()
            return handle.read()

    def hash_file(self, *parts: str) -> tuple[int, str]:
        """(size, sha256) of a remote file, streamed."""
        sink = _HashingWriter()
        self.sftp.getfo(self.path(*parts), sink)
        return sink.size, sink.sha256.hexdigest()

    def download(self, local: Path, *parts: str) -> tuple[int, str]:
        """Copy a remote file to ``local``; returns its (size, sha256)."""
        with open(local, "wb") as handle:
            sink = _HashingWriter(handle)
            self.sftp.getfo(self.path(*parts), sink)
        return sink.size, sink.sha256.hexdigest()

    # ------------------------------------------------------------------ writing
    def ensure_tree(self) -> list[str]:
        """Create the connection's folder and its sub-folders where missing."""
        created = []
        parts = [p for p in self.base.split("/") if p]
        current = "/"
        for part in parts:
            current = posixpath.join(current, part)
            if not self._is_dir(current):
                self.sftp.mkdir(current)
                created.append(current)
        for folder in settings.FOLDERS:
            path = self.path(folder)
            if not self._is_dir(path):
                self.sftp.mkdir(path)
                created.append(path)
        return created

    def _is_dir(self, path: str) -> bool:
        try:
            return stat.S_ISDIR(self.sftp.stat(path).st_mode)
        except OSError:
            return False

    def rename(self, source: tuple[str, ...], target: tuple[str, ...]) -> None:
        self.sftp.rename(self.path(*source), self.path(*target))

    def upload(self, data: bytes | Path, *parts: str) -> None:
        """Write a file atomically: upload as ``.<name>.part``, then rename over the target."""
        target = self.path(*parts)
        temp = posixpath.join(posixpath.dirname(target), f".{posixpath.basename(target)}.part")
        if isinstance(data, Path):
            self.sftp.put(str(data), temp, confirm=True)
        else:
            import io

            self.sftp.putfo(io.BytesIO(data), temp, confirm=True)
        try:
            self.sftp.posix_rename(temp, target)
        except OSError:  # a server without posix-rename: remove, then rename
            try:
                self.sftp.remove(target)
            except OSError:
                pass
            self.sftp.rename(temp, target)

    def remove_tree(self, *parts: str) -> None:
        """Delete a folder and everything in it (links are removed, never followed)."""
        path = self.path(*parts)
        for entry in self.sftp.listdir_attr(path):
            child = posixpath.join(path, entry.filename)
            if _kind(entry.st_mode) == "dir":
                self.remove_tree(*parts, entry.filename)
            else:
                self.sftp.remove(child)
        self.sftp.rmdir(path)

    def remove(self, *parts: str) -> None:
        self.sftp.remove(self.path(*parts))


@contextmanager
def session(conn_id: str | None = None) -> Iterator:
    """An open SFTP session (paramiko ``SFTPClient``) from the Airflow connection."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    hook = SFTPHook(ssh_conn_id=conn_id or settings.SFTP_CONN_ID,
                    conn_retry_attempts=int(os.environ.get("BBX_SFTP_CONNECT_ATTEMPTS", settings.SFTP_CONNECT_ATTEMPTS)))
    with hook.get_managed_conn() as sftp:
        yield sftp
