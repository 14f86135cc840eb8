"""The simulator's configuration: who may send, with which CPA, and how it behaves.

Everything the real chain fixes in a CPA or in Logius's registration (cpaId, party ids,
roles, registered message types) is configuration here, so tests and the demo can make
the simulator match BBX's tenant configuration. Values that are interface assumptions
(roles, the register answer's action name) are constants in this one module.

A configuration file is JSON or YAML::

    mijnoverheid_party_id: urn:osb:oin:00000001800866472000
    result_delay: 1.0          # seconds until a GLOBE-R-BV-Result can be fetched
    register_delay: 1.0        # seconds until a GLOBE-R-A answer can be fetched
    today: null                # simulated date (YYYY-MM-DD); null = the real date
    senders:
      - oin: "00000001001234567000"
        cpa_id: cpa-00000001001234567000      # default: cpa-<oin>
        message_types: [UPO2026, PASVERL]
        certificate_oins: ["00000001001234567000"]  # client certs allowed on this CPA
        sender_code: "00000001001234567000"   # ValidateAbonnementen berichtleverancierCode
        population: {seed: 1, size: 2000, epoch: 2026-01-01, window_days: 730}
        subscriptions:                        # explicit subscribers on top of the population
          - {bsns: ["249566758"], from: 2026-01-01, until: null}
    faults: {technisch_probleem_rate: 0.0, http_503_rate: 0.0}
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from simulator.faults import FaultSettings

# --- Facts and assumptions of the interface (shared/design/interface.md §1) -------------
EBMS_NAMESPACE = "http://www.ordina.nl/ebms/2.18"
SERVICE = "urn:osb:services:MIJNOVERHEID.ebMS.BB.2.0"
ACTION_BATCH_REQUEST = "GLOBE-R-BV-Request"
ACTION_BATCH_RESULT = "GLOBE-R-BV-Result"
ACTION_REGISTER_REQUEST = "GLOBE-R-A-Request"
ACTION_REGISTER_RESULT = "GLOBE-R-A-Result"  # assumption: not published by Logius
SENDER_ROLE = "SR"  # assumption
RECEIVER_ROLE = "SP"  # assumption
DEFAULT_MIJNOVERHEID_PARTY_ID = "urn:osb:oin:00000001800866472000"
PARTY_PREFIX = "urn:osb:oin:"
# How GLOBE-R-BV-Result is written (see simulator/globe.py): "documented" as the official
# XSD and interface.md §3 describe it, "live" as seen from a live ebms-core deployment
# (timestamps in UTC with Z, VerwerkingsCode "00" for a processed message).
RESULT_DIALECTS = ("documented", "live")
DEFAULT_RESULT_DIALECT = "documented"

EBMS_PATH = "/service/ebms"
VALIDATIE_PATH = "/BerichtenboxValidatieService"

# --- Where files are ------------------------------------------------------------------
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LOGIUS_DIR = Path(
    os.environ.get("BBX_LOGIUS_DIR", PROJECT_ROOT.parent / "shared" / "reference" / "logius")
)
DEFAULT_SCHEMAS_DIR = Path(os.environ.get("BBX_SCHEMAS_DIR", PROJECT_ROOT / "include" / "schemas"))

_OIN = re.compile(r"^\d{20}$")


class ConfigError(ValueError):
    """A configuration value that cannot work; the message says which and why."""


@dataclass(frozen=True)
class PopulationSpec:
    """How a sender's subscribers are derived (see :mod:`simulator.population`).

    ``size`` members are drawn deterministically from ``seed``. A share
    ``stable_share`` subscribed once, some day in the ``history_days`` before ``epoch``,
    and stays. The others come and go: each has its own cycle of ``min_cycle_days`` to
    ``max_cycle_days`` days, subscribed for 50-90 % of it. So every day has sign-ups and
    sign-offs (about ``size × (1 − stable_share) × 2 / mean cycle`` of them), on any
    date, and a register refresh on day N+1 sees changes against day N.
    """

    seed: int = 1
    size: int = 2000
    epoch: date = date(2026, 1, 1)
    history_days: int = 3650
    stable_share: float = 0.6
    min_cycle_days: int = 30
    max_cycle_days: int = 400

    def __post_init__(self) -> None:
        if self.size < 0 or self.size > 50_000_000:
            raise ConfigError(f"population size {self.size} must be between 0 and 50,000,000")
        if self.history_days < 1:
            raise ConfigError("population history_days must be at least 1")
        if not 0.0 <= self.stable_share <= 1.0:
            raise ConfigError(
                f"population stable_share {self.stable_share} must be between 0 and 1"
            )
        if not 2 <= self.min_cycle_days <= self.max_cycle_days:
            raise ConfigError("population cycles need 2 <= min_cycle_days <= max_cycle_days")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, default_seed: int) -> PopulationSpec:
        data = dict(data or {})
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown population setting(s): {', '.join(sorted(unknown))}")
        if "epoch" in data:
            data["epoch"] = parse_date(data["epoch"], "population epoch")
        data.setdefault("seed", default_seed)
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["epoch"] = self.epoch.isoformat()
        return out


@dataclass(frozen=True)
class Subscription:
    """Explicit subscribers of a sender, on top of (and overriding) the population."""

    bsns: tuple[str, ...]
    start: date
    until: date | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Subscription:
        bsns = data.get("bsns")
        if not isinstance(bsns, list | tuple) or not all(isinstance(b, str) for b in bsns):
            raise ConfigError("subscriptions need 'bsns': a list of BSN strings")
        start = parse_date(data.get("from", "2000-01-01"), "subscription 'from'")
        until = data.get("until")
        return cls(tuple(bsns), start, parse_date(until, "subscription 'until'") if until else None)


@dataclass(frozen=True)
class SenderConfig:
    """One sender ("koppeling") as MijnOverheid and the CPA know it."""

    oin: str
    cpa_id: str
    message_types: frozenset[str]
    population: PopulationSpec
    certificate_oins: frozenset[str]
    sender_code: str
    name: str = ""
    subscriptions: tuple[Subscription, ...] = ()
    result_dialect: str | None = None  # None: the simulator's result_dialect

    @property
    def party_id(self) -> str:
        return PARTY_PREFIX + self.oin

    def allows_certificate(self, oin: str | None) -> bool:
        """May a client certificate with this OIN use this sender's CPA?"""
        return oin is not None and oin in self.certificate_oins

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SenderConfig:
        known = {
            "oin",
            "cpa_id",
            "message_types",
            "population",
            "certificate_oins",
            "sender_code",
            "name",
            "subscriptions",
            "result_dialect",
        }
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown sender setting(s): {', '.join(sorted(unknown))}")
        oin = str(data.get("oin", ""))
        if not _OIN.match(oin):
            raise ConfigError(f"sender OIN {oin!r} must be 20 digits")
        types = data.get("message_types", [])
        if not isinstance(types, list | tuple) or not all(isinstance(t, str) for t in types):
            raise ConfigError(f"sender {oin}: message_types must be a list of codes")
        for code in types:
            if not 1 <= len(code) <= 8:
                raise ConfigError(
                    f"sender {oin}: message type code {code!r} must be 1-8 characters"
                )
        cert_oins = [str(o) for o in data.get("certificate_oins") or [oin]]
        for cert_oin in cert_oins:
            if not _OIN.match(cert_oin):
                raise ConfigError(f"sender {oin}: certificate OIN {cert_oin!r} must be 20 digits")
        return cls(
            oin=oin,
            cpa_id=str(data.get("cpa_id") or f"cpa-{oin}"),
            message_types=frozenset(types),
            population=PopulationSpec.from_dict(
                data.get("population"), default_seed=int(oin) % 2**31
            ),
            certificate_oins=frozenset(cert_oins),
            sender_code=str(data.get("sender_code") or oin),
            name=str(data.get("name", "")),
            subscriptions=tuple(Subscription.from_dict(s) for s in data.get("subscriptions") or []),
            result_dialect=check_dialect(
                data.get("result_dialect"), f"sender {oin}", optional=True
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "oin": self.oin,
            "name": self.name,
            "cpa_id": self.cpa_id,
            "party_id": self.party_id,
            "message_types": sorted(self.message_types),
            "certificate_oins": sorted(self.certificate_oins),
            "sender_code": self.sender_code,
            "population": self.population.to_dict(),
            "result_dialect": self.result_dialect,
        }


@dataclass
class SimulatorConfig:
    """All settings of one simulator instance (mutable through the admin API)."""

    senders: list[SenderConfig] = field(default_factory=list)
    mijnoverheid_party_id: str = DEFAULT_MIJNOVERHEID_PARTY_ID
    result_delay: float = 1.0
    register_delay: float = 1.0
    today: date | None = None
    logius_dir: Path = DEFAULT_LOGIUS_DIR
    schemas_dir: Path = DEFAULT_SCHEMAS_DIR
    faults: FaultSettings = field(default_factory=FaultSettings)
    max_body_bytes: int = 200 * 1024 * 1024
    result_dialect: str = DEFAULT_RESULT_DIALECT

    @property
    def wsdl_path(self) -> Path:
        return self.schemas_dir / "ebms" / "EbMSMessageService.wsdl"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulatorConfig:
        known = {
            "senders",
            "mijnoverheid_party_id",
            "result_delay",
            "register_delay",
            "today",
            "logius_dir",
            "schemas_dir",
            "faults",
            "max_body_bytes",
            "result_dialect",
        }
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        config = cls(senders=[SenderConfig.from_dict(s) for s in data.get("senders") or []])
        if "mijnoverheid_party_id" in data:
            config.mijnoverheid_party_id = str(data["mijnoverheid_party_id"])
        for name in ("result_delay", "register_delay"):
            if data.get(name) is not None:
                config.__setattr__(name, float(data[name]))
        if data.get("today"):
            config.today = parse_date(data["today"], "today")
        for name in ("logius_dir", "schemas_dir"):
            if data.get(name):
                config.__setattr__(name, Path(data[name]))
        if data.get("max_body_bytes"):
            config.max_body_bytes = int(data["max_body_bytes"])
        if data.get("faults"):
            config.faults = FaultSettings.from_dict(data["faults"])
        if data.get("result_dialect"):
            config.result_dialect = check_dialect(data["result_dialect"], "result_dialect")
        return config

    @classmethod
    def load(cls, path: Path) -> SimulatorConfig:
        """Read a JSON (``.json``) or YAML (anything else) configuration file."""
        text = Path(path).read_text(encoding="utf-8")
        if str(path).endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the configuration must be a mapping")
        return cls.from_dict(data)


def check_dialect(value: Any, what: str, *, optional: bool = False) -> str | None:
    """A result dialect name, or a ConfigError that lists the choices."""
    if value is None and optional:
        return None
    if value not in RESULT_DIALECTS:
        raise ConfigError(
            f"{what}: result_dialect {value!r} must be one of {', '.join(RESULT_DIALECTS)}"
        )
    return value


def parse_date(value: Any, what: str) -> date:
    """A date from a ``date`` or an ISO string, with an error that names the setting."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_sender_spec(spec: str) -> dict[str, Any]:
    """``OIN[:CPA_ID[:TYPE,TYPE...]]`` from the command line, as a sender mapping."""
    parts = spec.split(":")
    if len(parts) > 3:
        raise ConfigError(f"--sender {spec!r}: expected OIN[:CPA_ID[:TYPE,TYPE...]]")
    data: dict[str, Any] = {"oin": parts[0]}
    if len(parts) > 1 and parts[1]:
        data["cpa_id"] = parts[1]
    if len(parts) > 2 and parts[2]:
        data["message_types"] = [t for t in parts[2].split(",") if t]
    return data


def senders_from_tenants(path: Path) -> list[dict[str, Any]]:
    """Sender mappings for every connection in a BBX tenant configuration file.

    Reads only ``tenants[].connections[].{oin, cpa_id, sender_code, name,
    message_types[].code}``, so the demo's simulator knows the same senders as BBX.
    """
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    senders = []
    for tenant in data.get("tenants") or []:
        for connection in tenant.get("connections") or []:
            sender: dict[str, Any] = {
                "oin": str(connection.get("oin", "")),
                "name": str(connection.get("name") or connection.get("code") or ""),
                "message_types": [str(t["code"]) for t in connection.get("message_types") or []],
            }
            for key in ("cpa_id", "sender_code"):
                if connection.get(key):
                    sender[key] = str(connection[key])
            senders.append(sender)
    if not senders:
        raise ConfigError(f"{path}: no tenants[].connections[] found")
    return senders
