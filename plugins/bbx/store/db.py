"""Connections to BBX's own PostgreSQL database (psycopg 3).

Tasks never touch Airflow's metadata database: all BBX state lives in schema ``bbx``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.copy import Copy, LibpqWriter
from psycopg.rows import dict_row

from bbx import settings


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    """A new connection with ``search_path`` on BBX's schema and dict rows."""
    conn = psycopg.connect(url or settings.database_url(), row_factory=dict_row, **kwargs)
    conn.execute(f"SET search_path TO {settings.BBX_SCHEMA}, public")
    conn.commit()
    return conn


@contextmanager
def transaction(url: str | None = None) -> Iterator[psycopg.Connection]:
    """One connection, one transaction: committed on success, rolled back on error."""
    with connect(url) as conn:
        with conn.transaction():
            yield conn


@contextmanager
def unit(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """One committed unit of work on an open connection (rolled back on error).

    Unlike psycopg's ``conn.transaction()``, which inside the implicit transaction of an
    earlier read only opens a savepoint (committed by nobody), this first ends that read:
    what runs inside is committed when the block ends. :func:`transaction` is the same
    on a new connection."""
    conn.commit()  # end any implicit read transaction: what follows is a real transaction
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


class _OverlappedWriter(LibpqWriter):
    """Hands COPY data to the connection in a thread of its own, so that the caller builds
    the next block while PostgreSQL (on the other core) takes the previous one (issue 17).

    At most ``depth`` blocks wait in between: memory stays bounded when the server is the
    slower side. psycopg's own ``QueuedLibpqWriter`` would buffer up to 1,024 x 128 kB."""

    _END = None

    def __init__(self, cursor, depth: int):
        super().__init__(cursor)
        self._blocks: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None  # started by the first write (a COPY that never began has none)

    def _send(self) -> None:
        try:
            while (data := self._blocks.get()) is not self._END:
                super().write(data)
        except BaseException as exc:  # handed to the caller at its next write or at the end
            self._error = exc
            while self._blocks.get() is not self._END:
                pass  # keep taking blocks, or the caller's put() would wait forever

    def write(self, data) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._send, name="bbx-copy", daemon=True)
            self._thread.start()
        if self._error is not None:
            raise self._error
        self._blocks.put(data)

    def finish(self, exc: BaseException | None = None) -> None:
        if self._thread is not None:
            self._blocks.put(self._END)
            self._thread.join()
        super().finish(exc or self._error)  # ends the COPY (cancelled on an error: nothing written)
        if self._error is not None and exc is None:
            raise self._error


@contextmanager
def overlapped_copy(conn: psycopg.Connection, statement: str, depth: int = 4) -> Iterator[Copy]:
    """``conn.cursor().copy(statement)`` whose ``write()`` returns at once (up to ``depth``
    blocks ahead of the server): for one big COPY, where building the rows and PostgreSQL
    taking them would otherwise wait for each other. On an error nothing is written (the
    COPY fails as a whole, as a plain one does)."""
    cursor = conn.cursor()
    with cursor.copy(statement, writer=_OverlappedWriter(cursor, depth)) as copy:
        yield copy


def sibling_url(url: str, database: str) -> str:
    """The URL of another database on the same server (same credentials, host, options)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def _admin(url: str) -> tuple[str, psycopg.Connection]:
    """The database name in ``url`` and an autocommit connection to the server's
    ``postgres`` database (CREATE/DROP DATABASE cannot run inside a transaction)."""
    name = urlsplit(url).path.lstrip("/")
    return name, psycopg.connect(sibling_url(url, "postgres"), autocommit=True)


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist. True when created."""
    name, admin = _admin(url)
    with admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        admin.execute(f'CREATE DATABASE "{name}"')
        return True


def drop_database(url: str) -> None:
    name, admin = _admin(url)
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ping(conn) -> None:
    """Raise unless the database answers and BBX's schema is there (the health check)."""
    conn.execute("SELECT 1 FROM schema_migrations LIMIT 1")
