"""The versions of message types' standard texts (include/sql/160_standard_text_versions.sql).

Adding a version also makes it the message type's current text
(``message_types.standard_text``) and writes an audit entry, in the caller's transaction.
Which version the config apply adds: bbx.domain.standard_texts.
"""

from __future__ import annotations

from bbx.domain import standard_texts as rules
from bbx.store import audit

_VERSION_COLUMNS = "id, version, text, source, actor, created_at, sha256, rolled_back_from"


def versions(conn, message_type_id: int) -> list[dict]:
    """Every version, newest first (the first is current)."""
    return conn.execute(
        f"""SELECT {_VERSION_COLUMNS}
            FROM standard_text_versions WHERE message_type_id = %s ORDER BY version DESC""",
        (message_type_id,),
    ).fetchall()


def version(conn, message_type_id: int, number: int) -> dict | None:
    return conn.execute(
        f"""SELECT {_VERSION_COLUMNS}
            FROM standard_text_versions WHERE message_type_id = %s AND version = %s""",
        (message_type_id, number),
    ).fetchone()


def add(conn, message_type_id: int, text: str | None, *, source: str, actor: str,
        rolled_back_from: int | None = None) -> dict:
    """A new version (the newest, so current) with ``text``; audited."""
    if source not in rules.SOURCES:
        raise ValueError(f"unknown standard text source {source!r}")
    # the message type row first: two uploads at once get versions n and n+1, not a conflict
    mt = conn.execute("SELECT id, connection_id, code FROM message_types WHERE id = %s FOR UPDATE",
                      (message_type_id,)).fetchone()
    row = conn.execute(
        """INSERT INTO standard_text_versions (message_type_id, version, text, source, actor, sha256, rolled_back_from)
           SELECT %(mt)s, coalesce(max(version), 0) + 1, %(text)s, %(source)s, %(actor)s, %(sha)s, %(from)s
           FROM standard_text_versions WHERE message_type_id = %(mt)s
           RETURNING id, version, sha256""",
        {"mt": message_type_id, "text": text, "source": source, "actor": actor, "sha": rules.sha256(text),
         "from": rolled_back_from},
    ).fetchone()
    conn.execute("UPDATE message_types SET standard_text = %s WHERE id = %s", (text, message_type_id))
    action = "standard_text.rolled_back" if source == "rollback" else "standard_text.changed"
    details = {"message_type": mt["code"], "version": row["version"], "source": source, "sha256": row["sha256"]}
    if rolled_back_from is not None:
        details["rolled_back_from"] = rolled_back_from
    audit.record(conn, actor=actor, action=action, connection_id=mt["connection_id"], details=details)
    return row


def apply_config_text(conn, message_type_id: int, config_text: str | None, actor: str) -> bool:
    """The config apply's part: add a version when the domain rule says so; True if added."""
    last = conn.execute(
        """SELECT count(*) > 0 AS has_config,
                  (array_agg(text ORDER BY version DESC))[1] AS last_config_text
           FROM standard_text_versions WHERE message_type_id = %s AND source = 'config'""",
        (message_type_id,),
    ).fetchone()
    if not rules.config_adds_version(config_text, last["last_config_text"], bool(last["has_config"])):
        return False
    add(conn, message_type_id, config_text, source="config", actor=actor)
    return True


def rollback(conn, message_type_id: int, number: int, actor: str) -> dict | None:
    """Make version ``number`` current again, as a new version with its text (None: no such version)."""
    old = version(conn, message_type_id, number)
    if old is None:
        return None
    return add(conn, message_type_id, old["text"], source="rollback", actor=actor, rolled_back_from=number)


def message_type_by_codes(conn, connection_code: str, code: str) -> dict | None:
    """A message type by connection code and type code (operators' commands)."""
    return conn.execute(
        """SELECT mt.id, mt.code, mt.active, mt.standard_text FROM message_types mt
           JOIN connections c ON c.id = mt.connection_id WHERE c.code = %s AND mt.code = %s""",
        (connection_code, code),
    ).fetchone()
