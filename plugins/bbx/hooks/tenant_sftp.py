"""SFTP to the tenants' folders: the Airflow SFTP provider's ``SFTPHook`` with BBX's
defaults, and a connection's folder tree on it.

Tree below the connection's ``sftp_folder`` (see docs/drop-protocol.md)::

    inbox/<drop>/        the tenant uploads drops here
    processing/<drop>/   BBX's: a drop being processed (moved here first, atomically)
    archive/<drop>.s<N>/ BBX's: processed drops (N = submission number), until retention
    outbox/              BBX's answers: acknowledgements and error reports

Every write a tenant can see is atomic: files are uploaded under a temporary name and
renamed; drops are moved with one rename. Intake, delivery's result files and the
register export all go through here.

The provider's helpers are used where they do what BBX needs (``isdir``, ``mkdir``,
``store_file``, ``delete_file``, ``list_directory_with_attr``); BBX keeps its own where
they would not: ``exists`` and ``remove_tree`` never follow links (the provider's
``path_exists``/``delete_directory`` stat through them), and files are read with the
session's ``getfo`` because ``retrieve_file`` logs the remote path at INFO, and a drop's
file names may hold a BSN (``123456782_1.pdf``).
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from airflow.providers.sftp.hooks.sftp import SFTPHook
from paramiko.sftp_file import SFTPFile as _SFTPFile

from bbx.domain.drop import ListedFile

#: The Airflow connection of the SFTP server (user ``bbx``, sees every tenant's tree).
SFTP_CONN_ID = os.environ.get("BBX_SFTP_CONN_ID", "bbx_sftp")

#: Connection attempts per SFTP session (the task's own retries come on top).
SFTP_CONNECT_ATTEMPTS = int(os.environ.get("BBX_SFTP_CONNECT_ATTEMPTS", "3"))

#: The folders below a connection's ``sftp_folder``.
FOLDERS = ("inbox", "processing", "archive", "outbox")


class TenantSFTPHook(SFTPHook):
    """``SFTPHook`` on BBX's gateway connection (``bbx_sftp``), retrying the connect
    ``BBX_SFTP_CONNECT_ATTEMPTS`` times. Use :meth:`session` (one SSH session for many
    operations) and :meth:`folders`."""

    def __init__(self, ssh_conn_id: str | None = None, **kwargs) -> None:
        kwargs.setdefault("conn_retry_attempts", int(os.environ.get("BBX_SFTP_CONNECT_ATTEMPTS",
                                                                    SFTP_CONNECT_ATTEMPTS)))
        super().__init__(ssh_conn_id=ssh_conn_id or SFTP_CONN_ID, **kwargs)

    @property
    def sftp(self):
        """The open paramiko ``SFTPClient`` of the current :meth:`session`."""
        if self._sftp_conn is None:
            raise RuntimeError("no SFTP session is open: use `with hook.session():`")
        return self._sftp_conn

    @contextmanager
    def session(self) -> Iterator[TenantSFTPHook]:
        """One SSH/SFTP session for everything inside (the provider's managed
        connection: the helpers called inside reuse it)."""
        with self.get_managed_conn():
            yield self

    def folders(self, base: str) -> ConnectionFolders:
        return ConnectionFolders(self, base)


@contextmanager
def session(conn_id: str | None = None) -> Iterator[TenantSFTPHook]:
    """A :class:`TenantSFTPHook` with its session open."""
    with TenantSFTPHook(conn_id).session() as hook:
        yield hook


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
    """The folders of one connection, on a :class:`TenantSFTPHook` with an open session."""

    def __init__(self, hook: TenantSFTPHook, base: str):
        self.hook = hook
        self.base = base.rstrip("/") or "/"

    @property
    def sftp(self):
        return self.hook.sftp

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
            entries = self.hook.list_directory_with_attr(self.path(*parts))
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
        """Create the connection's folder and its sub-folders where missing; returns
        what was created (the provider's ``create_directory`` does not say)."""
        created = []
        parts = [p for p in self.base.split("/") if p]
        current = "/"
        for part in parts:
            current = posixpath.join(current, part)
            if not self.hook.isdir(current):
                self.hook.mkdir(current)
                created.append(current)
        for folder in FOLDERS:
            path = self.path(folder)
            if not self.hook.isdir(path):
                self.hook.mkdir(path)
                created.append(path)
        return created

    def rename(self, source: tuple[str, ...], target: tuple[str, ...]) -> None:
        self.sftp.rename(self.path(*source), self.path(*target))

    @staticmethod
    def part_path(target: str) -> str:
        """Where a file is written before it is complete: ``.<name>.part`` beside it."""
        return posixpath.join(posixpath.dirname(target), f".{posixpath.basename(target)}.part")

    def replace(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target``, replacing it (atomic where the server can)."""
        try:
            self.sftp.posix_rename(source, target)
        except OSError:  # a server without posix-rename: remove, then rename
            try:
                self.hook.delete_file(target)
            except OSError:
                pass
            self.sftp.rename(source, target)

    def upload(self, data: bytes | Path, *parts: str) -> None:
        """Write a file atomically: upload as ``.<name>.part``, then rename over the target."""
        target = self.path(*parts)
        temp = self.part_path(target)
        self.hook.store_file(temp, str(data) if isinstance(data, Path) else io.BytesIO(data), confirm=True)
        self.replace(temp, target)

    def upload_chunks(self, chunks: Iterable[bytes], *parts: str) -> int:
        """Write a file atomically from byte chunks, streamed (no local copy): as ``.<name>.part``,
        checked for its size, then renamed over the target. Returns the size. The writes are
        pipelined (paramiko sends each request without waiting for the answer before it, and
        checks every answer at close) and cut into the protocol's request size, so no piece is
        copied more than once."""
        target = self.path(*parts)
        temp = self.part_path(target)
        size = 0
        piece = _SFTPFile.MAX_REQUEST_SIZE
        with self.sftp.open(temp, "wb") as handle:
            handle.set_pipelined(True)
            for chunk in chunks:
                view = memoryview(chunk)
                for start in range(0, len(view), piece):
                    handle.write(bytes(view[start:start + piece]))
                size += len(view)
        written = self.sftp.stat(temp).st_size
        if written != size:
            raise OSError(f"{temp}: {written} bytes arrived of {size}")
        self.replace(temp, target)
        return size

    def remove_tree(self, *parts: str) -> None:
        """Delete a folder and everything in it (links are removed, never followed)."""
        path = self.path(*parts)
        for entry in self.sftp.listdir_attr(path):
            child = posixpath.join(path, entry.filename)
            if _kind(entry.st_mode) == "dir":
                self.remove_tree(*parts, entry.filename)
            else:
                self.hook.delete_file(child)
        self.sftp.rmdir(path)

    def remove(self, *parts: str) -> None:
        self.hook.delete_file(self.path(*parts))
