"""Deterministic identifiers, so that a rerun produces the same ids and a resend of a
message reuses its BerichtID (MijnOverheid then answers ``BerichtBestaatAl``).

All ids are UUIDv5 in BBX's own namespace over stable, explicit inputs.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

# Fixed forever: changing it would change every id ever issued.
BBX_NAMESPACE = uuid.UUID("6f1c0b3e-5d2a-5b8e-9a57-0b5e1f2a4c11")


_NAMESPACE_BYTES = BBX_NAMESPACE.bytes


def _uuid(*parts: object) -> str:
    return _uuid_of(hashlib.sha1(_NAMESPACE_BYTES + "\x1f".join(str(p) for p in parts).encode()))


# Exactly uuid.uuid5 (RFC 4122: SHA-1 over namespace + name, version 5, RFC variant), as
# one integer operation per id, without a UUID object: intake derives one per row (issue 17).
_KEEP = ((1 << 128) - 1) ^ (0xF << 76) ^ (0x3 << 62)  # all but the version and variant bits
_VERSION_5 = (0x5 << 76) | (0x2 << 62)


def _uuid_hex(sha1) -> str:
    """The id as 32 hex digits (PostgreSQL's uuid input takes them without hyphens)."""
    return "%032x" % ((int.from_bytes(sha1.digest()[:16], "big") & _KEEP) | _VERSION_5)


def _uuid_of(sha1) -> str:
    x = _uuid_hex(sha1)
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def message_id(connection_code: str, submission_id: object, row_key: str) -> str:
    """BerichtID of one message: connection + submission + the row's stable key.

    ``row_key`` is the BSN for a bulk list; where one submission may hold several rows
    for the same BSN (not allowed today) the caller must include the row number.
    """
    return _uuid("bericht", connection_code, submission_id, row_key)


def message_ids(connection_code: str, submission_id: object, *, hyphens: bool = True) -> Callable[[str], str]:
    """:func:`message_id` of one submission as a function of the row key: the shared part of
    the name is hashed once, not once per row (a million-row drop, issue 17). ``hyphens``
    False: the same id as 32 hex digits, for a COPY (the canonical form costs a µs a row)."""
    shared = hashlib.sha1(_NAMESPACE_BYTES + "\x1f".join(("bericht", connection_code, str(submission_id), "")).encode())
    form = _uuid_of if hyphens else _uuid_hex

    def of(row_key: str) -> str:
        sha1 = shared.copy()
        sha1.update(row_key.encode())
        return form(sha1)

    return of


def batch_id(connection_code: str, submission_id: object, batch_number: int) -> str:
    """BatchID of the ``batch_number``-th GLOBE batch of a submission."""
    return _uuid("batch", connection_code, submission_id, batch_number)


def subscription_request_id(connection_code: str, logical_date: str, kind: str) -> str:
    """VerzoekId of a register refresh request for one connection and logical date."""
    return _uuid("abonnement", connection_code, logical_date, kind)
