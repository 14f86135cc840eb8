"""Building the ``GLOBE-R-BV-Request`` payload of one batch from the database.

Personal texts and PDFs are decrypted here, in memory, only for the moment the batch
is built. A message that cannot be sent as it is (attachments that cannot be composed
within 500 kB, a character XML cannot carry, a purged personal PDF) is taken out of the
batch and rejected with a reason for the tenant; the rest of the batch goes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from bbx import crypto
from bbx.delivery.config import SEND_TIMEZONE
from bbx.domain import attachments, globe
from bbx.domain.delivery import PERSONAL_ATTACHMENT_DESCRIPTIONS
from bbx.store import batches as batch_store
from bbx.store import handins

log = logging.getLogger(__name__)


@dataclass
class BuiltBatch:
    payload: bytes | None  # None: no message of the batch could be sent
    message_count: int
    rejections: dict[int, str] = field(default_factory=dict)  # message pk -> reason


class StandardSets:
    """The merged standard PDFs per message type, prepared once per task."""

    def __init__(self) -> None:
        self._sets: dict[int, attachments.StandardSet] = {}

    def get(self, conn, message_type_id: int) -> attachments.StandardSet:
        found = self._sets.get(message_type_id)
        if found is None:
            found = self._sets[message_type_id] = handins.standard_set(conn, message_type_id)
        return found


def _publication(day: date | None) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day, time(0, 0), tzinfo=SEND_TIMEZONE)


def build(conn, batch_row: dict, *, standard_sets: StandardSets | None = None,
          created_at: datetime | None = None) -> BuiltBatch:
    """The payload of ``batch_row`` (a row of :func:`bbx.store.batches.batch`)."""
    standard_sets = standard_sets or StandardSets()
    batch_id = str(batch_row["id"])
    rows = batch_store.batch_messages(conn, batch_id)
    # most batches have no personal PDF at all: then no second query
    with_attachments = [r["id"] for r in rows if r["has_own"]]
    personal = batch_store.personal_attachments(conn, with_attachments) if with_attachments else {}
    rejections: dict[int, str] = {}
    messages: list[globe.OutgoingMessage] = []
    pk_by_message_id: dict[str, int] = {}
    # A message without personal PDFs gets its type's standard PDFs as they compose for
    # every such message: composed once per type and batch, not once per message.
    standard_only: dict[int, attachments.Composed | attachments.AttachmentRejection | None] = {}
    for r in rows:
        pk = r["id"]
        own = personal.get(pk) if personal else None
        # Purged after the retention period (bbx.store.retention): without its own text the
        # standard text would go instead, so the message cannot be sent again.
        if r["purged_at"] is not None or (own and any(a["content_encrypted"] is None for a in own)):
            rejections[pk] = (
                "the personal text or PDF of this message was deleted (retention period) before it "
                "could be sent; hand the message in again"
            )
            continue
        if own:
            sources = [
                attachments.SourcePdf(PERSONAL_ATTACHMENT_DESCRIPTIONS[min(a["position"], 2) - 1],
                                      crypto.decrypt(a["content_encrypted"]))
                for a in own
            ]
            composed = attachments.compose(standard_sets.get(conn, r["type_id"]), sources)
        else:
            type_id = r["type_id"]
            if type_id in standard_only:
                composed = standard_only[type_id]
            else:
                standard = standard_sets.get(conn, type_id)
                composed = standard_only[type_id] = attachments.compose(standard, ()) if standard.pdfs else None
        if composed is not None and not composed.ok:
            rejections[pk] = composed.reason
            continue
        encrypted = r["text_encrypted"]
        messages.append(
            globe.OutgoingMessage(
                message_id=r["message_id"],
                message_type_code=r["type_code"],
                subject=r["subject"],
                bsn=r["bsn"],
                text=crypto.decrypt_text(encrypted) if encrypted is not None else r["standard_text"],
                reference=r["reference"],
                publication_date=_publication(r["publication_date"]),
                attachments=composed.attachments if composed is not None else (),
            )
        )
        pk_by_message_id[r["message_id"]] = pk

    header = globe.BatchHeader(batch_id, created_at or datetime.now(UTC), batch_row["oin"])
    while messages:
        try:
            payload = globe.build_batch(header, messages)
        except globe.MessageContentError as exc:
            bad = {exc.message_id}
            reason = f"the message cannot be sent: {exc}"
        except globe.BatchValidationError as exc:
            if not exc.message_ids:
                raise  # a problem of the batch itself: a bug, not the tenant's content
            bad = set(exc.message_ids)
            reason = "the message does not pass MijnOverheid's schema: " + "; ".join(exc.problems[:3])
        else:
            return BuiltBatch(payload, len(messages), rejections)
        for message_id in bad:
            rejections[pk_by_message_id[message_id]] = reason
        messages = [m for m in messages if m.message_id not in bad]
    return BuiltBatch(None, 0, rejections)
