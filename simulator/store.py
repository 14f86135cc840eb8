"""Everything the simulator remembers, in memory, behind one lock.

* the citizens' boxes: which BerichtIDs were delivered, to which BSN (each at most once);
* the receipt log: every BerichtID received, how often, and the code each time;
* batches and register requests received (for inspection);
* ebMS bookkeeping: messages sent by BBX (for ``getMessageStatus``) and inbound
  messages (results, register answers) waiting for ``getMessage``/``processMessage``.

Inbound messages carry the moment they become visible; no timer thread is needed.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Delivery:
    """One message in a citizen's box."""

    bericht_id: str
    bsn: str
    sender_oin: str
    bericht_type: str
    batch_id: str
    onderwerp: str
    delivered_at: str

    def to_dict(self) -> dict[str, str]:
        return {
            "bericht_id": self.bericht_id,
            "bsn": self.bsn,
            "sender_oin": self.sender_oin,
            "bericht_type": self.bericht_type,
            "batch_id": self.batch_id,
            "onderwerp": self.onderwerp,
            "delivered_at": self.delivered_at,
        }


class DataSource:
    """One ebMS data source. ``pack=True`` keeps the content zlib-compressed in memory
    (results wait in memory until fetched; their XML compresses about 20-fold)."""

    __slots__ = ("name", "content_type", "_data", "_packed", "size")

    def __init__(self, name: str, content_type: str, content: bytes, pack: bool = False) -> None:
        self.name = name
        self.content_type = content_type
        self.size = len(content)
        self._packed = pack
        self._data = zlib.compress(content, 1) if pack else content

    @property
    def content(self) -> bytes:
        return zlib.decompress(self._data) if self._packed else self._data


@dataclass
class InboundMessage:
    """A message from MijnOverheid to BBX, as the ebMS adapter hands it out."""

    message_id: str
    cpa_id: str
    sender_oin: str  # the CPA's sender (BBX side); used for authorisation
    from_party: str
    from_role: str
    to_party: str
    to_role: str
    service: str
    action: str
    conversation_id: str
    ref_to_message_id: str | None
    timestamp: str
    visible_at: float  # time.monotonic() from when getUnprocessedMessageIds lists it
    data_sources: list[DataSource] | None = None  # None while still being produced
    processed: bool = False
    description: str = ""

    def visible(self, now: float) -> bool:
        return self.data_sources is not None and now >= self.visible_at

    def meta(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "cpa_id": self.cpa_id,
            "action": self.action,
            "conversation_id": self.conversation_id,
            "ref_to_message_id": self.ref_to_message_id,
            "timestamp": self.timestamp,
            "ready": self.data_sources is not None,
            "bytes": sum(d.size for d in self.data_sources or []),
            "visible": self.visible(time.monotonic()),
            "processed": self.processed,
            "description": self.description,
        }


@dataclass
class SentMessage:
    """A message BBX sent through the ebMS adapter."""

    message_id: str
    cpa_id: str
    sender_oin: str
    action: str
    timestamp: str
    status: str = "DELIVERED"


@dataclass
class BatchRecord:
    ebms_message_id: str
    batch_id: str
    sender_oin: str
    received_at: str
    messages: int
    codes: dict[str, int]
    errors: list[str]
    result_message_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ebms_message_id": self.ebms_message_id,
            "batch_id": self.batch_id,
            "sender_oin": self.sender_oin,
            "received_at": self.received_at,
            "messages": self.messages,
            "codes": {k: v for k, v in self.codes.items() if v},
            "xsd_errors": self.errors,
            "result_message_ids": self.result_message_ids,
        }


@dataclass
class RegisterRecord:
    ebms_message_id: str
    sender_oin: str
    received_at: str
    verzoek_id: str | None = None
    kind: str | None = None
    outcome: str = "pending"  # pending | answered | rejected
    reason: str | None = None
    entries: int | None = None
    answer_message_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Store:
    """The simulator's state. Methods that mutate take ``self.lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.RLock()):
            # Compact on purpose (a benchmark may send millions): a value is a str for one
            # entry and becomes a list only for a second one.
            self._received: dict[str, str | list[str]] = {}  # BerichtID -> code(s) per receipt
            self.delivered: dict[str, Delivery] = {}  # BerichtID -> where it is
            self._boxes: dict[str, str | list[str]] = {}  # BSN -> BerichtID(s) in the box
            self.messages_received = 0
            self.repeated_ids = 0
            self.batches: list[BatchRecord] = []
            self.batch_ids: Counter[str] = Counter()
            self.register_requests: list[RegisterRecord] = []
            self.sent: dict[str, SentMessage] = {}
            self.inbound: dict[str, InboundMessage] = {}  # in arrival order
            self.code_totals: Counter[str] = Counter()

    # -- receipts and citizens' boxes (callers of the mutators hold the lock) ----------
    def record_receipt(self, bericht_id: str, code: str) -> None:
        self.messages_received += 1
        before = self._received.get(bericht_id)
        if before is None:
            self._received[bericht_id] = code
        elif isinstance(before, str):
            self._received[bericht_id] = [before, code]
            self.repeated_ids += 1
        else:
            before.append(code)

    def deliver(self, delivery: Delivery) -> None:
        """Put a message in the citizen's box (the caller checked BerichtBestaatAl)."""
        self.delivered[delivery.bericht_id] = delivery
        before = self._boxes.get(delivery.bsn)
        if before is None:
            self._boxes[delivery.bsn] = delivery.bericht_id
        elif isinstance(before, str):
            self._boxes[delivery.bsn] = [before, delivery.bericht_id]
        else:
            before.append(delivery.bericht_id)

    def codes(self, bericht_id: str) -> list[str] | None:
        """The code of every receipt of ``bericht_id``, in order (None: never received)."""
        found = self._received.get(bericht_id)
        if found is None:
            return None
        return [found] if isinstance(found, str) else list(found)

    def receipts(self) -> Iterator[tuple[str, list[str]]]:
        """(BerichtID, codes) of every BerichtID received (take the lock around it)."""
        for bericht_id, found in self._received.items():
            yield bericht_id, [found] if isinstance(found, str) else list(found)

    def box_ids(self, bsn: str) -> list[str]:
        found = self._boxes.get(bsn)
        if found is None:
            return []
        return [found] if isinstance(found, str) else list(found)

    def box(self, bsn: str) -> list[Delivery]:
        with self.lock:
            return [self.delivered[b] for b in self.box_ids(bsn)]

    # -- inbound ebMS messages ------------------------------------------------------------
    def add_inbound(self, message: InboundMessage) -> None:
        with self.lock:
            self.inbound[message.message_id] = message

    def unprocessed(self, allowed: set[str] | None = None) -> list[InboundMessage]:
        """Visible, unprocessed inbound messages, oldest first (``allowed``: CPA ids)."""
        now = time.monotonic()
        with self.lock:
            found = [
                m
                for m in self.inbound.values()
                if not m.processed and m.visible(now) and (allowed is None or m.cpa_id in allowed)
            ]
        found.sort(key=lambda m: m.visible_at)
        return found

    # -- inspection -------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "messages_received": self.messages_received,
                "unique_bericht_ids": len(self._received),
                "bericht_ids_received_more_than_once": self.repeated_ids,
                "delivered": len(self.delivered),
                "boxes": len(self._boxes),
                "batches": len(self.batches),
                "batch_ids_received_more_than_once": sum(
                    1 for n in self.batch_ids.values() if n > 1
                ),
                "codes": dict(self.code_totals),
                "register_requests": len(self.register_requests),
                "inbound_unprocessed": sum(1 for m in self.inbound.values() if not m.processed),
                "sent": len(self.sent),
            }

    def bericht(self, bericht_id: str) -> dict[str, Any] | None:
        with self.lock:
            codes = self.codes(bericht_id)
            if codes is None:
                return None
            delivery = self.delivered.get(bericht_id)
            in_box = 0
            if delivery is not None:
                in_box = self.box_ids(delivery.bsn).count(bericht_id)
            return {
                "bericht_id": bericht_id,
                "count": len(codes),
                "outcomes": list(codes),
                "delivered": delivery is not None,
                "in_box_count": in_box,
                "delivery": delivery.to_dict() if delivery else None,
            }
