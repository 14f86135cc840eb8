"""Connections to BBX's own PostgreSQL database (psycopg 3).

Tasks never touch Airflow's metadata database: all BBX state lives in schema ``bbx``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
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


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist. True when created."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
        return True


def drop_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
