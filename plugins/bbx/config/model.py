"""Reading and checking a tenant configuration file (no database).

Two layers of checks, all errors reported at once with their path in the file:
the JSON schema (``include/schemas/tenant-config.schema.json``: shapes and lengths),
then the rules a schema cannot express (unique codes across the file, references
to attachments, readable PDFs, text files).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from bbx import i18n, settings
from bbx.domain import callbacks, limits, population
from bbx.domain.attachments import inspect_pdf


class ConfigError(ValueError):
    """A configuration file with one or more problems; ``problems`` lists them all."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the configuration:\n{lines}")


@dataclass(frozen=True)
class StandardAttachmentSpec:
    code: str
    description: str
    file_name: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class MessageTypeSpec:
    code: str
    name: str
    subject: str
    standard_text: str | None
    standard_attachments: tuple[str, ...]
    active: bool


@dataclass(frozen=True)
class ConnectionSpec:
    code: str
    name: str
    oin: str
    sender_code: str
    cpa_id: str
    sftp_folder: str
    retention_days: int
    register_export: bool
    register_export_scope: str  # 'full' | 'population' (bbx.domain.population.export_scope)
    register_stale_after_hours: int
    active: bool
    standard_attachments: tuple[StandardAttachmentSpec, ...]
    message_types: tuple[MessageTypeSpec, ...]
    language: str = "nl"  # tenant-facing texts: outbox files, and the web service/pages (bbx.i18n)
    pdfa: str = "warn"  # personal PDFs that are not PDF/A: "warn" (note) or "strict" (refused)
    approval_threshold: int | None = None  # more messages: a second person approves (four-eyes)
    rate_limit_per_minute: int = 60  # send requests through the web service (send_limits)
    concurrency_limit: int = 4
    daily_message_cap: int | None = None
    callback_url: str | None = None  # status callbacks (bbx.domain.callbacks), set by the configuration
    callback_secret_variable: str | None = None  # the Airflow Variable holding its HMAC secret
    callback_ca_pem: str | None = None  # extra CAs to trust for the receiver (callback.ca_file)


@dataclass(frozen=True)
class TenantSpec:
    code: str
    name: str
    connections: tuple[ConnectionSpec, ...]


@dataclass(frozen=True)
class TenantConfig:
    source: str
    sha256: str
    tenants: tuple[TenantSpec, ...] = field(default_factory=tuple)


@lru_cache(maxsize=1)
def _schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((settings.SCHEMAS_DIR / "tenant-config.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    where = _path(error.absolute_path)
    value = error.instance
    shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else repr(value[:37] + "...")
    if error.validator == "maxLength":
        return f"{where}: {len(value)} characters, at most {error.validator_value} allowed"
    if error.validator == "minLength":
        return f"{where}: must not be empty"
    if error.validator == "maxItems":
        return f"{where}: {len(value)} items, at most {error.validator_value} allowed"
    if error.validator == "pattern":
        return f"{where}: {shown} does not match the required format {error.validator_value}"
    if error.validator == "not" and isinstance(value, dict):
        return f"{where}: give either standard_text or standard_text_file, not both"
    if error.validator == "additionalProperties" and where.endswith(".callback") and "secret" in value:
        return (f"{where}: never put the secret in the file; give the name of the Airflow Variable that "
                "holds it as secret_variable")
    return f"{where}: {error.message}"


def load(path: Path) -> TenantConfig:
    """Read, check and resolve a configuration file. Raises ConfigError with every problem."""
    source = str(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror}"]) from None
    try:
        document = yaml.safe_load(raw_bytes)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML/JSON: {exc}"]) from None

    problems = [_describe(e) for e in sorted(_schema_validator().iter_errors(document), key=lambda e: list(e.absolute_path))]
    if problems:
        raise ConfigError(source, problems)

    tenants = tuple(_resolve_tenants(document, path.parent, problems))
    if problems:
        raise ConfigError(source, problems)
    return TenantConfig(source, hashlib.sha256(raw_bytes).hexdigest(), tenants)


class _Unique:
    """Remembers where each value was first seen, to report duplicates with both paths."""

    def __init__(self, what: str, problems: list[str]):
        self.what, self.problems, self.seen = what, problems, {}

    def check(self, value, where: str) -> None:
        if value in self.seen:
            self.problems.append(f"{where}: duplicate {self.what} {value!r} (also at {self.seen[value]})")
        else:
            self.seen[value] = where


def _resolve_tenants(document: dict, base: Path, problems: list[str]):
    tenant_codes = _Unique("tenant code", problems)
    connection_codes = _Unique("connection code", problems)
    oins = _Unique("OIN", problems)
    folders = _Unique("sftp_folder", problems)
    for t_index, tenant in enumerate(document["tenants"]):
        t_where = f"tenants[{t_index}]"
        tenant_codes.check(tenant["code"], f"{t_where}.code")
        connections = []
        for c_index, conn in enumerate(tenant["connections"]):
            c_where = f"{t_where}.connections[{c_index}]"
            connection_codes.check(conn["code"], f"{c_where}.code")
            oins.check(conn["oin"], f"{c_where}.oin")
            folders.check(conn["sftp_folder"], f"{c_where}.sftp_folder")
            attachments = list(_resolve_attachments(conn, c_where, base, problems))
            # declared codes, not only the readable ones: a bad file is reported once, where it is
            declared = {a["code"] for a in conn.get("standard_attachments", [])}
            message_types = _resolve_message_types(conn, c_where, base, declared, problems)
            callback = conn.get("callback") or {}
            if callback:
                try:
                    with i18n.language("en"):  # an operator's file: its problems are in English
                        callbacks.check_url(callback["url"])
                except callbacks.CallbackUrlError as exc:
                    problems.append(f"{c_where}.callback.url: {exc}")
            ca_pem = _callback_ca(callback, c_where, base, problems)
            connections.append(
                ConnectionSpec(
                    code=conn["code"], name=conn["name"], oin=conn["oin"],
                    sender_code=conn["sender_code"], cpa_id=conn["cpa_id"],
                    sftp_folder=conn["sftp_folder"].rstrip("/"),
                    retention_days=conn.get("retention_days", 90),
                    register_export=population.export_scope(conn.get("register_export", False))[0],
                    register_export_scope=population.export_scope(conn.get("register_export", False))[1],
                    register_stale_after_hours=conn.get("register_stale_after_hours", 36),
                    active=conn.get("active", True), pdfa=conn.get("pdfa", "warn"),
                    language=conn.get("language", "nl"),
                    standard_attachments=tuple(attachments), message_types=tuple(message_types),
                    approval_threshold=conn.get("approval_threshold"),
                    rate_limit_per_minute=conn.get("send_limits", {}).get("requests_per_minute", 60),
                    concurrency_limit=conn.get("send_limits", {}).get("concurrent_requests", 4),
                    daily_message_cap=conn.get("send_limits", {}).get("daily_messages"),
                    callback_url=callback["url"].strip() if callback else None,
                    callback_secret_variable=callback.get("secret_variable"),
                    callback_ca_pem=ca_pem,
                )
            )
        yield TenantSpec(tenant["code"], tenant["name"], tuple(connections))


def _callback_ca(callback: dict, c_where: str, base: Path, problems: list[str]) -> str | None:
    if not callback.get("ca_file"):
        return None
    try:
        return callbacks.check_ca_bundle((base / callback["ca_file"]).read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{c_where}.callback.ca_file: cannot read {callback['ca_file']!r}: "
                        f"{getattr(exc, 'strerror', None) or exc}")
    except callbacks.CallbackCaError as exc:
        problems.append(f"{c_where}.callback.ca_file: {callback['ca_file']!r} {exc}")
    return None


def _resolve_attachments(conn: dict, c_where: str, base: Path, problems: list[str]):
    codes = _Unique("standard attachment code", problems)
    for a_index, att in enumerate(conn.get("standard_attachments", [])):
        a_where = f"{c_where}.standard_attachments[{a_index}]"
        codes.check(att["code"], f"{a_where}.code")
        file_path = base / att["file"]
        try:
            content = file_path.read_bytes()
        except OSError as exc:
            problems.append(f"{a_where}.file: cannot read {att['file']!r}: {exc.strerror}")
            continue
        info = inspect_pdf(content)
        if not info.ok:
            problems.append(f"{a_where}.file: {att['file']!r}: {info.reason}")
            continue
        if len(content) > limits.MAX_ATTACHMENT_BYTES_PER_MESSAGE:
            problems.append(
                f"{a_where}.file: {att['file']!r} is {len(content):,} bytes; all attachments of one "
                f"message together may be at most {limits.MAX_ATTACHMENT_BYTES_PER_MESSAGE:,} bytes"
            )
            continue
        yield StandardAttachmentSpec(att["code"], att["description"], Path(att["file"]).name, content)


def _resolve_message_types(conn: dict, c_where: str, base: Path, attachment_codes: set[str], problems: list[str]):
    codes = _Unique("message type code", problems)
    for m_index, mt in enumerate(conn.get("message_types", [])):
        m_where = f"{c_where}.message_types[{m_index}]"
        codes.check(mt["code"], f"{m_where}.code")
        for s_index, code in enumerate(mt.get("standard_attachments", [])):
            if code not in attachment_codes:
                problems.append(
                    f"{m_where}.standard_attachments[{s_index}]: unknown standard attachment {code!r}"
                    f" (known in this connection: {', '.join(sorted(attachment_codes)) or 'none'})"
                )
        text = mt.get("standard_text")
        if "standard_text_file" in mt:
            try:
                text = (base / mt["standard_text_file"]).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{m_where}.standard_text_file: cannot read it as UTF-8 text: {exc}")
                continue
            if len(text) > limits.MAX_TEXT_CHARS:
                problems.append(
                    f"{m_where}.standard_text_file: {len(text)} characters, at most {limits.MAX_TEXT_CHARS} allowed"
                )
                continue
        yield MessageTypeSpec(
            code=mt["code"], name=mt["name"], subject=mt["subject"], standard_text=text,
            standard_attachments=tuple(mt.get("standard_attachments", [])), active=mt.get("active", True),
        )
