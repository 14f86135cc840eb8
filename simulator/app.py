"""The simulated MijnOverheid behind the ebMS adapter: senders, intake, results.

This is the core the transports call into. :mod:`simulator.ebms` turns SOAP into calls
of :meth:`Simulator.accept_batch` / :meth:`Simulator.accept_register_request`;
the answers go back as inbound ebMS messages that become visible after a delay.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from sys import intern

from simulator import globe, register
from simulator.clock import Clock, xml_datetime
from simulator.config import (
    ACTION_BATCH_RESULT,
    ACTION_REGISTER_RESULT,
    RECEIVER_ROLE,
    SENDER_ROLE,
    SERVICE,
    SenderConfig,
    SimulatorConfig,
    check_dialect,
)
from simulator.faults import FaultInjector
from simulator.population import Population
from simulator.schemas import (
    GLOBE_REQUEST,
    SchemaPool,
    load_official_xsd,
    load_own_xsd,
    load_validatie_schema,
    wsdl_types_schema,
)
from simulator.store import BatchRecord, DataSource, Delivery, InboundMessage, RegisterRecord, Store

log = logging.getLogger("simulator")

RESULT_NAME = "BerichtVerwerkResponse.xml"
RESULT_CONTENT_TYPE = "application/xml"


class Simulator:
    """One simulated MijnOverheid (plus ebMS adapter), shared by all request threads."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._initial = copy.deepcopy(config)
        self.clock = Clock(config.today)
        self.faults = FaultInjector(config.faults)
        self.store = Store()
        self._senders_lock = threading.Lock()
        self._senders: dict[str, SenderConfig] = {}
        self._populations: dict[str, Population] = {}
        for sender in config.senders:
            self.register_sender(sender)
        logius, own = config.logius_dir, config.schemas_dir
        self.batch_schema = SchemaPool(lambda: load_official_xsd(logius, GLOBE_REQUEST))
        self.request_schema = SchemaPool(
            lambda: load_own_xsd(own / "subscription" / "AbonnementAanvraag.xsd")
        )
        self.validatie_schema = SchemaPool(lambda: load_validatie_schema(logius))
        self.ebms_schema = SchemaPool(lambda: wsdl_types_schema(config.wsdl_path))
        self._answers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="register-answer")

    def close(self) -> None:
        self._answers.shutdown(wait=False, cancel_futures=True)

    # -- senders -------------------------------------------------------------------------
    def register_sender(self, sender: SenderConfig) -> None:
        """Add or replace a sender (its population starts fresh)."""
        population = Population(sender.population)
        for sub in sender.subscriptions:
            population.subscribe(sub.bsns, sub.start, sub.until)
        with self._senders_lock:
            for other in self._senders.values():
                if other.cpa_id == sender.cpa_id and other.oin != sender.oin:
                    raise ValueError(f"cpaId {sender.cpa_id} is already used by sender {other.oin}")
            self._senders[sender.oin] = sender
            self._populations[sender.oin] = population
        log.info(
            "sender %s registered (cpaId %s, %d message types, population %d)",
            sender.oin,
            sender.cpa_id,
            len(sender.message_types),
            sender.population.size,
        )

    def result_dialect(self, sender: SenderConfig) -> str:
        """The dialect of this sender's results: its own setting, else the simulator's."""
        current = self._senders.get(sender.oin, sender)
        return current.result_dialect or self.config.result_dialect

    def set_result_dialect(self, oin: str, dialect: str | None) -> SenderConfig:
        """Switch one sender's result dialect at run time (``None``: the simulator's);
        its population and subscriptions are kept."""
        dialect = check_dialect(dialect, f"sender {oin}", optional=True)
        with self._senders_lock:
            sender = self._senders.get(oin)
            if sender is None:
                raise KeyError(f"no sender {oin}")
            sender = self._senders[oin] = dataclasses.replace(sender, result_dialect=dialect)
        log.info("sender %s: results in the %s dialect", oin, self.result_dialect(sender))
        return sender

    def remove_sender(self, oin: str) -> bool:
        with self._senders_lock:
            self._populations.pop(oin, None)
            return self._senders.pop(oin, None) is not None

    def senders(self) -> list[SenderConfig]:
        return list(self._senders.values())

    def sender(self, oin: str) -> SenderConfig | None:
        return self._senders.get(oin)

    def sender_by_cpa(self, cpa_id: str) -> SenderConfig | None:
        for sender in self._senders.values():
            if sender.cpa_id == cpa_id:
                return sender
        return None

    def sender_by_code(self, code: str) -> SenderConfig | None:
        """A sender by its ValidateAbonnementen ``berichtleverancierCode`` (or OIN)."""
        for sender in self._senders.values():
            if code in (sender.sender_code, sender.oin):
                return sender
        return None

    def population(self, oin: str) -> Population:
        return self._populations[oin]

    def cpas_for_certificate(self, cert_oin: str | None) -> set[str]:
        return {s.cpa_id for s in self._senders.values() if s.allows_certificate(cert_oin)}

    def knows_certificate(self, cert_oin: str | None) -> bool:
        return any(s.allows_certificate(cert_oin) for s in self._senders.values())

    # -- resets (tests) ------------------------------------------------------------------
    def reset(
        self, *, state: bool = True, faults: bool = True, clock: bool = True, senders: bool = False
    ) -> None:
        """Forget what was received; optionally faults, clock and senders too."""
        if state:
            self.store.reset()
        if faults:
            self.faults.reset(to_initial=False)
        if clock:
            self.clock.set_today(self._initial.today)
        if senders:
            with self._senders_lock:
                self._senders.clear()
                self._populations.clear()
            for sender in self._initial.senders:
                self.register_sender(sender)
            self.config.result_delay = self._initial.result_delay
            self.config.register_delay = self._initial.register_delay
            self.config.result_dialect = self._initial.result_dialect

    # -- intake ----------------------------------------------------------------------------
    @staticmethod
    def new_message_id() -> str:
        return f"{uuid.uuid4()}@mijnoverheid-simulator"

    def accept_batch(
        self, sender: SenderConfig, message_id: str, conversation_id: str, content: bytes
    ) -> BatchRecord:
        """Process a ``GLOBE-R-BV-Request`` and schedule its ``GLOBE-R-BV-Result``."""
        received = self.clock.now()
        batch = globe.parse_batch(globe.unpack_payload(content), self.batch_schema)
        population = self.population(sender.oin)
        today = received.date().toordinal()
        store = self.store
        with store.lock:
            batch_code = globe.batch_level_code(batch, sender.oin, received)
            if batch_code is not None:
                codes = [batch_code] * len(batch.berichten)
            else:
                codes = self._decide(batch, sender, population, today, received)
            record_receipt = store.record_receipt
            for bericht, code in zip(batch.berichten, codes, strict=True):
                if bericht.bericht_id:
                    record_receipt(bericht.bericht_id, code)
            store.code_totals.update(codes)
            store.batch_ids[batch.batch_id] += 1
            record = BatchRecord(
                ebms_message_id=message_id,
                batch_id=batch.batch_id,
                sender_oin=sender.oin,
                received_at=xml_datetime(received),
                messages=len(codes),
                codes=globe.count_codes(codes),
                errors=batch.errors,
            )
            store.batches.append(record)
        result = globe.build_result(
            batch,
            codes,
            leverancier_code=batch.leverancier or sender.oin,
            received=received,
            processed=self.clock.now(),
            dialect=self.result_dialect(sender),
        )
        record.result_message_ids = self._schedule(
            sender,
            ACTION_BATCH_RESULT,
            message_id,
            conversation_id,
            [DataSource(RESULT_NAME, RESULT_CONTENT_TYPE, result, pack=True)],
            self.config.result_delay,
            f"result of batch {batch.batch_id}",
        )
        log.info(
            "batch %s from %s: %d messages, %s%s",
            batch.batch_id,
            sender.oin,
            len(codes),
            {k: v for k, v in record.codes.items() if v},
            # XSD messages can quote content (texts): only say where to look
            f" (fails the XSD: {len(batch.errors)} error(s), see /admin/batches)"
            if batch.errors
            else "",
        )
        return record

    def _decide(self, batch, sender, population, today, now) -> list[str]:
        """Per-message codes of a valid batch; delivers the Verwerkt ones (lock held)."""
        store = self.store
        delivered = store.delivered.__contains__
        technisch = None
        if self.faults.any_message_faults():

            def technisch() -> bool:
                return self.faults.fires("technisch_probleem")

        def subscribed(bsn: str) -> bool:
            return population.is_active(bsn, today)

        stamp = xml_datetime(now)
        codes = []
        for bericht in batch.berichten:
            code = globe.message_code(
                bericht,
                message_types=sender.message_types,
                now=now,
                technisch=technisch,
                delivered=delivered,
                subscribed=subscribed,
            )
            if code == globe.VERWERKT:
                store.deliver(
                    Delivery(
                        bericht.bericht_id,
                        bericht.bsn,
                        sender.oin,
                        intern(bericht.bericht_type),
                        batch.batch_id,
                        intern(bericht.onderwerp),
                        stamp,
                    )
                )
            codes.append(code)
        return codes

    def accept_register_request(
        self, sender: SenderConfig, message_id: str, conversation_id: str, content: bytes
    ) -> RegisterRecord:
        """Check a ``GLOBE-R-A-Request`` and produce its answer in the background."""
        record = RegisterRecord(message_id, sender.oin, xml_datetime(self.clock.now()))
        with self.store.lock:
            self.store.register_requests.append(record)
        try:
            request = register.parse_request(globe.unpack_payload(content), self.request_schema)
        except register.RegisterRequestRejected as exc:
            self._reject(record, str(exc))
            return record
        record.verzoek_id, record.kind = request.verzoek_id, request.kind
        if request.oin != sender.oin:
            self._reject(
                record,
                f"BerichtLeverancier/OIN {request.oin!r} is not the OIN of CPA "
                f"{sender.cpa_id} ({sender.oin}); MijnOverheid does not answer",
            )
            return record
        ids = self._schedule(
            sender,
            ACTION_REGISTER_RESULT,
            message_id,
            conversation_id,
            None,
            self.config.register_delay,
            f"answer to {request.kind} request {request.verzoek_id}",
        )
        record.answer_message_ids = ids
        self._answers.submit(self._answer, request, sender, record, ids)
        return record

    def _answer(self, request, sender, record: RegisterRecord, ids: list[str]) -> None:
        started = time.monotonic()
        try:
            population = self.population(sender.oin)
            content, count = register.build_answer(request, population, self.clock.now())
        except Exception as exc:  # keep the worker alive; the record says what happened
            log.exception("register answer for %s failed", sender.oin)
            record.outcome, record.reason = "failed", f"{type(exc).__name__}: {exc}"
            return
        source = [DataSource(register.ANSWER_NAME, register.ANSWER_CONTENT_TYPE, content)]
        with self.store.lock:
            for message_id in ids:
                if message_id in self.store.inbound:
                    self.store.inbound[message_id].data_sources = source
            record.outcome, record.entries = "answered", count
        log.info(
            "register answer (%s) for %s: %d entries, %d bytes gzip, %.1f s",
            request.kind,
            sender.oin,
            count,
            len(content),
            time.monotonic() - started,
        )

    def _reject(self, record: RegisterRecord, reason: str) -> None:
        with self.store.lock:
            record.outcome, record.reason = "rejected", reason
            sent = self.store.sent.get(record.ebms_message_id)
            if sent is not None:
                sent.status = "DELIVERY_FAILED"
        log.warning("register request %s rejected: %s", record.ebms_message_id, reason)

    def _schedule(
        self,
        sender: SenderConfig,
        action: str,
        ref_to: str,
        conversation_id: str,
        sources: list[DataSource] | None,
        delay: float,
        description: str,
    ) -> list[str]:
        """Queue an inbound message (twice when the duplicate fault fires)."""
        copies = 2 if self.faults.fires("duplicate_result") else 1
        visible_at = time.monotonic() + delay + self.faults.result_extra_delay
        ids = []
        for copy_number in range(copies):
            message = InboundMessage(
                message_id=self.new_message_id(),
                cpa_id=sender.cpa_id,
                sender_oin=sender.oin,
                from_party=self.config.mijnoverheid_party_id,
                from_role=RECEIVER_ROLE,
                to_party=sender.party_id,
                to_role=SENDER_ROLE,
                service=SERVICE,
                action=action,
                conversation_id=conversation_id,
                ref_to_message_id=ref_to,
                timestamp=xml_datetime(self.clock.now()),
                visible_at=visible_at + copy_number * 0.001,
                data_sources=sources,
                description=description + (" (duplicate)" if copy_number else ""),
            )
            self.store.add_inbound(message)
            ids.append(message.message_id)
        return ids
