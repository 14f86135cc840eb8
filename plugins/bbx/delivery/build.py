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
    for r in rows:
        standard = standard_sets.get(conn, r["type_id"])
        own = personal.get(r["id"], [])
        # Purged after the retention period (bbx.store.retention): without its own text the
        # standard text would go instead, so the message cannot be sent again.
        if r["purged_at"] is not None or any(a["content_encrypted"] is None for a in own):
            rejections[r["id"]] = (
                "the personal text or PDF of this message was deleted (retention period) before it "
                "could be sent; hand the message in again"
            )
            continue
        composed_attachments: tuple[globe.Attachment, ...] = ()
        if own or standard.pdfs:
            sources = [
                attachments.SourcePdf(PERSONAL_ATTACHMENT_DESCRIPTIONS[min(a["position"], 2) - 1],
                                      crypto.decrypt(a["content_encrypted"]))
                for a in own
            ]
            composed = attachments.compose(standard, sources)
            if not composed.ok:
                rejections[r["id"]] = composed.reason
                continue
            composed_attachments = composed.attachments
        text = crypto.decrypt_text(r["text_encrypted"]) if r["text_encrypted"] is not None else r["standard_text"]
        messages.append(
            globe.OutgoingMessage(
                message_id=r["message_id"],
                message_type_code=r["type_code"],
                subject=r["subject"],
                bsn=r["bsn"],
                text=text,
                reference=r["reference"],
                publication_date=_publication(r["publication_date"]),
                attachments=composed_attachments,
            )
        )
        pk_by_message_id[r["message_id"]] = r["id"]

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
