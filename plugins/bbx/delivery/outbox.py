"""Writing a submission's result file and undeliverable list into the tenant's outbox.

``<sftp_folder>/outbox/<name>`` through BBX's SFTP hook (``bbx.hooks.tenant_sftp``, as intake:
Airflow Connection ``bbx_sftp``, the same connection retries, the same atomic upload as
a hidden ``.<name>.part`` renamed when complete, so a tenant never picks up half a file).
The CSV is streamed from PostgreSQL straight into the SFTP upload, the next chunk read
while one is sent: a million-row result file never sits in memory or on local disk.
"""

from __future__ import annotations

import contextlib
import contextvars
import posixpath
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Chunks read ahead of the upload (a result file's chunk is about 2 MB).
READ_AHEAD = 4


def outbox_of(sftp_folder: str) -> str:
    return posixpath.join(sftp_folder.rstrip("/") or "/", "outbox")


def write_to_outbox(submission: dict, files: list[tuple[str, Iterable[bytes]]], *,
                    sftp_conn_id: str | None = None) -> list[str]:
    """Write each ``(file name, chunks)`` into the outbox of ``submission``'s connection
    (a dict with ``sftp_folder``), in one SFTP session. Returns the paths written."""
    from bbx.hooks.tenant_sftp import session

    written = []
    with session(sftp_conn_id) as hook:
        folders = hook.folders(submission["sftp_folder"])
        folders.ensure_tree()
        for file_name, chunks in files:
            with contextlib.closing(read_ahead(chunks)) as ahead:  # its thread ends here, also on errors
                folders.upload_chunks(ahead, "outbox", file_name)
            written.append(folders.path("outbox", file_name))
    return written


def read_ahead(chunks: Iterable[bytes], depth: int = READ_AHEAD) -> Iterator[bytes]:
    """``chunks`` as they are, produced in a thread up to ``depth`` ahead of the consumer:
    PostgreSQL writes the next part of a result file while SFTP sends this one. The thread
    runs in the caller's context (the file's language). An error of the producer is raised
    here; a consumer that stops early stops the producer."""
    ready: queue.Queue = queue.Queue(depth)
    done, stop = object(), threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(chunks)
        try:
            for chunk in source:
                if not hand_over(chunk):
                    return
            hand_over(done)
        except BaseException as exc:  # raised by the consumer
            hand_over(exc)
        finally:
            if hasattr(source, "close"):  # a generator: its cursor closes in this thread
                source.close()

    worker = threading.Thread(target=contextvars.copy_context().run, args=(produce,),
                              name="bbx-outbox-read-ahead", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


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
