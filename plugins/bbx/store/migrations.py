"""A small migration runner: applies ``include/sql/NNN_name.sql`` in order, once each.

Each file runs in its own transaction and is recorded in ``bbx.schema_migrations`` with
its checksum; an applied file that was edited afterwards is an error (write a new one).
A PostgreSQL advisory lock makes concurrent runs (scheduler + tests) wait, not collide.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bbx import settings

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK_ID = 0x0BB0_0001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def discover(folder: Path = settings.SQL_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            continue  # named queries live beside migrations without a number prefix
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations share number {version:03d}: {path.name}")
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def migrate(url: str | None = None, folder: Path = settings.SQL_DIR) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date)."""
    applied_now: list[str] = []
    with psycopg.connect(url or settings.database_url(), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {settings.BBX_SCHEMA}")
            conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {settings.BBX_SCHEMA}.schema_migrations (
                    version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {
                row[0]: (row[1], row[2])
                for row in conn.execute(
                    f"SELECT version, name, checksum FROM {settings.BBX_SCHEMA}.schema_migrations"
                )
            }
            for migration in discover(folder):
                if migration.version in done:
                    name, checksum = done[migration.version]
                    if checksum != migration.checksum:
                        raise MigrationError(
                            f"{migration.name} was changed after it was applied as {name}; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                with conn.transaction():
                    conn.execute(f"SET LOCAL search_path TO {settings.BBX_SCHEMA}, public")
                    conn.execute(migration.sql)
                    conn.execute(
                        f"INSERT INTO {settings.BBX_SCHEMA}.schema_migrations"
                        " (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied_now.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now
