"""Deterministic identifiers, so that a rerun produces the same ids and a resend of a
message reuses its BerichtID (MijnOverheid then answers ``BerichtBestaatAl``).

All ids are UUIDv5 in BBX's own namespace over stable, explicit inputs.
"""

from __future__ import annotations

import uuid

# Fixed forever: changing it would change every id ever issued.
BBX_NAMESPACE = uuid.UUID("6f1c0b3e-5d2a-5b8e-9a57-0b5e1f2a4c11")


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(BBX_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def message_id(connection_code: str, submission_id: object, row_key: str) -> str:
    """BerichtID of one message: connection + submission + the row's stable key.

    ``row_key`` is the BSN for a bulk list; where one submission may hold several rows
    for the same BSN (not allowed today) the caller must include the row number.
    """
    return _uuid("bericht", connection_code, submission_id, row_key)


def batch_id(connection_code: str, submission_id: object, batch_number: int) -> str:
    """BatchID of the ``batch_number``-th GLOBE batch of a submission."""
    return _uuid("batch", connection_code, submission_id, batch_number)


def subscription_request_id(connection_code: str, logical_date: str, kind: str) -> str:
    """VerzoekId of a register refresh request for one connection and logical date."""
    return _uuid("abonnement", connection_code, logical_date, kind)
