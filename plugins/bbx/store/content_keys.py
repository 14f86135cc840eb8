"""Re-encrypting stored personal content with the newest content key (``bbx keys rotate``).

Everything BBX encrypts with the content keys lives in two columns:
``messages.text_encrypted`` and ``message_attachments.content_encrypted``. Each is walked
in primary-key order, in batches; each batch is its own transaction (rows locked, each
token re-encrypted with ``MultiFernet.rotate``, written back), so an interrupted run
leaves only whole batches done. A token already under the newest key is skipped (an
HMAC check, no decryption): running again after an interruption continues where it
stopped, and a run over fully rotated content changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.fernet import InvalidToken

from bbx import crypto
from bbx.store import audit

ACTOR = "bbx:keys"


class UnreadableContent(RuntimeError):
    """A stored token that no configured key decrypts."""


@dataclass(frozen=True)
class Column:
    name: str  # for people
    table: str
    column: str
    key: tuple[str, ...]  # primary key, the walk order


COLUMNS = (
    Column("texts", "messages", "text_encrypted", ("id",)),
    Column("pdfs", "message_attachments", "content_encrypted", ("message_id", "position")),
)


@dataclass
class Progress:
    column: str
    total: int  # stored items in this column (at the start)
    checked: int = 0
    rotated: int = 0
    batches: int = 0


def _count(conn, col: Column) -> int:
    return conn.execute(f"SELECT count(*) AS n FROM {col.table} WHERE {col.column} IS NOT NULL").fetchone()["n"]


def _batch(conn, col: Column, after: tuple | None, size: int) -> list[dict]:
    keys = ", ".join(col.key)
    where = f"{col.column} IS NOT NULL"
    params: list = []
    if after is not None:
        where += f" AND ({keys}) > ({', '.join(['%s'] * len(col.key))})"
        params.extend(after)
    return conn.execute(
        f"SELECT {keys}, {col.column} AS token FROM {col.table} WHERE {where} ORDER BY {keys} LIMIT %s FOR UPDATE",
        (*params, size),
    ).fetchall()


def _write(conn, col: Column, row: dict, token: bytes) -> None:
    match = " AND ".join(f"{k} = %s" for k in col.key)
    conn.execute(f"UPDATE {col.table} SET {col.column} = %s WHERE {match}", (token, *(row[k] for k in col.key)))


def stale_counts(conn) -> dict[str, dict[str, int]]:
    """Per column: stored items and how many are not under the newest key (read only)."""
    out = {}
    for col in COLUMNS:
        total = stale = 0
        with conn.cursor(name=f"keys_{col.table}") as cursor:
            cursor.execute(f"SELECT {col.column} AS token FROM {col.table} WHERE {col.column} IS NOT NULL")
            for row in cursor:
                total += 1
                stale += not crypto.is_current(row["token"])
        out[col.name] = {"stored": total, "older_key": stale}
    conn.rollback()
    return out


def rotate(conn, *, batch_size: int = 500, max_batches: int | None = None,
           on_batch: Callable[[Progress], None] | None = None) -> tuple[list[Progress], bool]:
    """Re-encrypt every stored item not under the newest key; ``on_batch`` sees the
    progress after each committed batch. ``max_batches`` stops early (the next run
    continues). Returns the progress per column and whether every column was walked to
    its end; one audit entry (counts only)."""
    results: list[Progress] = []
    done_batches, complete = 0, True
    for col in COLUMNS:
        progress = Progress(col.name, _count(conn, col))
        conn.rollback()
        results.append(progress)
        after: tuple | None = None
        finished = False
        while max_batches is None or done_batches < max_batches:
            with conn.transaction():
                rows = _batch(conn, col, after, batch_size)
                for row in rows:
                    if not crypto.is_current(row["token"]):
                        try:
                            token = crypto.rotate(row["token"])
                        except InvalidToken:
                            where = ", ".join(f"{k} {row[k]}" for k in col.key)
                            raise UnreadableContent(
                                f"{col.table} ({where}): none of the {crypto.key_count()} configured keys "
                                "decrypts it — was a key removed too early? Put it back (after the newest) "
                                "and run again") from None
                        _write(conn, col, row, token)
                        progress.rotated += 1
            if rows:
                after = tuple(rows[-1][k] for k in col.key)
                progress.checked += len(rows)
                progress.batches += 1
                done_batches += 1
                if on_batch:
                    on_batch(progress)
            if len(rows) < batch_size:
                finished = True
                break
        complete = complete and finished
    with conn.transaction():
        audit.record(conn, actor=ACTOR, action="keys.rotated",
                     details={"keys": crypto.key_count(), "complete": complete,
                              **{p.column: {"checked": p.checked, "rotated": p.rotated} for p in results}})
    return results, complete

