"""The SFTP drop protocol, version 1 (``bbx-drop/1``): pure rules, no I/O.

A tenant puts a *drop* in ``inbox/<drop name>/``: one folder holding a list file
and/or personal PDFs, and — uploaded last — a marker saying the drop is complete:

- ``manifest.json`` (checksummed manifest, for automated senders)::

      {"protocol": "bbx-drop/1", "drop_id": "upo-2026-fase-1", "message_type": "UPO2026",
       "pdfs_per_bsn": "1-2", "separator": ";",
       "files": [{"name": "bsns.csv", "sha256": "<64 hex>", "size": 1234}, ...]}

  Every file of the drop is listed with its sha256; the drop is read only when every
  listed file is there with its listed size, and is rejected as a whole (one clear
  error) when the manifest is broken: not JSON, wrong fields, a listed file missing or
  different, a file present that it does not list.
- ``READY`` (or ``READY.txt``; ready marker, for people): ``key: value`` lines, at
  least ``message_type: UPO2026``; optionally ``drop_id``, ``pdfs_per_bsn``,
  ``separator``. Every file present when the marker arrives belongs to the drop.

Both markers may schedule the send: ``send_at`` and ``publication_date``, checked by
``bbx.domain.schedule`` (the rules of every channel; in READY a time without an offset is
Dutch time). A wrong one is a manifest error: the whole drop is rejected.

Files in a drop (names are case-insensitive where it says so):

- list files ``*.csv`` / ``*.txt``: a BSN list, or personal texts (see drop_tables);
- personal PDFs ``<BSN>_1.pdf`` and ``<BSN>_2.pdf`` (``.PDF`` too);
- nothing else: anything else is an unknown file, and unsafe names (path parts,
  control characters, hidden files), links, sub-folders and empty files are refused.

Everything here is written for the person who has to act on it (the tenant).
See ``docs/drop-protocol.md`` for the tenant's version of this text.

Over ~400 lines on purpose: the protocol (marker, manifest, names, file roles) is one
specification, read top to bottom beside ``docs/drop-protocol.md``; the row checks are
``drop_check``, the reading of list files ``drop_tables``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bbx.domain import bsn as bsn_rules
from bbx.domain import population
from bbx.domain import schedule as schedule_rules
from bbx.domain.limits import MAX_MESSAGE_TYPE_CODE_CHARS, MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE
from bbx.i18n import _, number

PROTOCOL = "bbx-drop/1"
MANIFEST_NAME = "manifest.json"
READY_NAMES = ("ready", "ready.txt")  # compared case-insensitively
LIST_SUFFIXES = (".csv", ".txt")
PDF_SUFFIX = ".pdf"
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")  # a list still to be saved as CSV
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_DROP_ID_CHARS = 100
_DROP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,99}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PDF_NAME = re.compile(r"^(?P<bsn>[^_]+)_(?P<position>\d+)\.pdf$", re.IGNORECASE)
_SEPARATORS = {";": ";", ",": ",", "tab": "\t", "\\t": "\t", "\t": "\t"}


@dataclass(frozen=True)
class IntakeLimits:
    """Limits of a drop that are BBX's choice (configurable), not the contract's."""

    max_file_bytes: int = 512 * 1024 * 1024  # one file of a drop
    max_files: int = 50_000  # files in one drop


DEFAULT_LIMITS = IntakeLimits()


# --------------------------------------------------------------------------- pdfs per BSN


@dataclass(frozen=True)
class PdfRule:
    """How many personal PDFs every row of the drop must have (``pdfs_per_bsn``)."""

    minimum: int
    maximum: int

    @property
    def text(self) -> str:
        return str(self.minimum) if self.minimum == self.maximum else f"{self.minimum}-{self.maximum}"


def parse_pdf_rule(value: object) -> PdfRule:
    """``0``, ``1``, ``2``, ``"1-2"`` or ``"0-2"``; raises ValueError with the allowed forms."""
    text = str(value).strip()
    allowed = {"0": (0, 0), "1": (1, 1), "2": (2, 2), "1-2": (1, 2), "0-2": (0, 2), "0-1": (0, 1)}
    if isinstance(value, bool) or text not in allowed:
        raise ValueError(_("pdfs_per_bsn must be one of 0, 1, 2, \"1-2\", \"0-1\" or \"0-2\", not {value}",
                           value=repr(value)))
    return PdfRule(*allowed[text])


DEFAULT_WITH_PDFS = PdfRule(1, MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE)
DEFAULT_WITHOUT_PDFS = PdfRule(0, 0)


# --------------------------------------------------------------------------- the manifest


class ManifestError(ValueError):
    """The drop's manifest or ready marker is broken: the whole drop is rejected with this.
    ``unfinished``: the text may be a marker still being uploaded (not yet whole JSON or
    UTF-8), so intake waits the grace before rejecting it; a whole document with a wrong
    value (a schedule, an unknown field) is final and rejected at once."""

    def __init__(self, message: str, *, unfinished: bool = False):
        super().__init__(message)
        self.unfinished = unfinished


@dataclass(frozen=True)
class ManifestFile:
    name: str
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class Manifest:
    """What the tenant declared about a drop (from manifest.json or READY)."""

    marker: str  # the marker's file name as uploaded
    kind: str  # "manifest" | "ready"
    message_type: str
    drop_id: str | None = None
    pdfs_per_bsn: PdfRule | None = None  # None: 1-2 when the drop has PDFs, else 0
    separator: str | None = None  # None: detected per list file
    files: tuple[ManifestFile, ...] | None = None  # None for READY (everything present)
    drop_kind: str = "messages"  # "messages" | "population" (bbx.domain.population)
    mode: str | None = None  # a population list: "full" | "additions" | "removals"
    schedule: schedule_rules.Schedule = schedule_rules.NOW  # checked when the marker was parsed

    def pdf_rule(self, drop_has_pdfs: bool) -> PdfRule:
        if self.pdfs_per_bsn is not None:
            return self.pdfs_per_bsn
        return DEFAULT_WITH_PDFS if drop_has_pdfs else DEFAULT_WITHOUT_PDFS


def marker_of(names: Iterable[str]) -> str | None:
    """The marker file among a drop's file names (``manifest.json`` wins over READY)."""
    names = list(names)
    for name in names:
        if name.lower() == MANIFEST_NAME:
            return name
    for name in names:
        if name.lower() in READY_NAMES:
            return name
    return None


def is_marker(name: str) -> bool:
    return name.lower() == MANIFEST_NAME or name.lower() in READY_NAMES


def parse_marker(name: str, data: bytes, *, now: datetime | None = None) -> Manifest:
    """Parse ``manifest.json`` or ``READY``; raises ManifestError with one clear message.
    ``now``: the moment the schedule is checked against (default: the current time)."""
    if name.lower() == MANIFEST_NAME:
        return parse_manifest(name, data, now=now)
    return parse_ready(name, data, now=now)


def _decode_marker(name: str, data: bytes) -> str:
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(_("{name} is {n} bytes; at most {max} are allowed",
                               name=name, n=number(len(data)), max=number(MAX_MANIFEST_BYTES)))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(_("{name} is not UTF-8 text (byte {byte}): save it as UTF-8",
                               name=name, byte=exc.start), unfinished=True) from None


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise ManifestError(_("manifest.json has the field {field} twice", field=repr(key)))
        seen[key] = value
    return seen


def parse_manifest(name: str, data: bytes, *, now: datetime | None = None) -> Manifest:
    text = _decode_marker(name, data)
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ManifestError(_(
            "{name} is not valid JSON (line {line}, column {column}: {error}); upload a corrected manifest.json",
            name=name, line=exc.lineno, column=exc.colno, error=exc.msg), unfinished=True) from None
    if not isinstance(doc, dict):
        raise ManifestError(_("{name} must hold one JSON object {{...}}", name=name))
    problems: list[str] = []
    known = {"protocol", "drop_id", "message_type", "pdfs_per_bsn", "separator", "files", "comment", "kind", "mode",
             "send_at", "publication_date"}
    unknown = sorted(set(doc) - known)
    if unknown:
        problems.append(_("unknown field(s) {fields} (known: {known})",
                          fields=", ".join(map(repr, unknown)), known=", ".join(sorted(known))))
    if doc.get("protocol") != PROTOCOL:
        problems.append(_("\"protocol\" must be {protocol}, found {found}",
                          protocol=repr(PROTOCOL), found=repr(doc.get("protocol"))))
    kind, mode = _kind_mode(doc.get("kind"), doc.get("mode"), doc.get("message_type"), problems)
    message_type = "" if kind == population.KIND_POPULATION else _message_type(doc.get("message_type"), problems)
    drop_id = _drop_id(doc.get("drop_id"), problems)
    rule = _rule(doc.get("pdfs_per_bsn"), problems)
    separator = _separator(doc.get("separator"), problems)
    files = _files(doc.get("files"), problems)
    schedule = _schedule(doc.get("send_at"), doc.get("publication_date"), kind, problems, dutch_time=False, now=now)
    if problems:
        raise ManifestError(_("{name} is not a valid {protocol} manifest: {problems}",
                              name=name, protocol=PROTOCOL, problems="; ".join(problems)))
    return Manifest(name, "manifest", message_type, drop_id, rule, separator, files, kind, mode, schedule)


def parse_ready(name: str, data: bytes, *, now: datetime | None = None) -> Manifest:
    text = _decode_marker(name, data)
    values: dict[str, str] = {}
    problems: list[str] = []
    for line_number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        # the first ':' or '=' separates the key (a send_at value holds ':' itself)
        key, sep, value = re.split(r"([:=])", line, maxsplit=1) if re.search("[:=]", line) else (line, "", "")
        key = key.strip().lower().replace("-", "_").replace(" ", "_")
        if not sep or not key:
            problems.append(_("line {line} is not 'key: value'", line=line_number))
            continue
        if key not in _READY_KEYS:
            problems.append(_("line {line}: unknown key {key} (known: {known})",
                              line=line_number, key=repr(key), known=", ".join(_READY_KEYS)))
            continue
        if key in values:
            problems.append(_("line {line}: {key} given twice", line=line_number, key=key))
        values[key] = value.strip()
    kind, mode = _kind_mode(values.get("kind"), values.get("mode"), values.get("message_type"), problems)
    message_type = "" if kind == population.KIND_POPULATION else _message_type(values.get("message_type"), problems)
    drop_id = _drop_id(values.get("drop_id") or None, problems)
    rule = _rule(values.get("pdfs_per_bsn") or None, problems)
    separator = _separator(values.get("separator") or None, problems)
    schedule = _schedule(values.get("send_at"), values.get("publication_date"), kind, problems, dutch_time=True,
                         now=now)
    if problems:
        raise ManifestError(_("{name} is not a valid ready marker: {problems}", name=name, problems="; ".join(problems)))
    return Manifest(name, "ready", message_type, drop_id, rule, separator, None, kind, mode, schedule)


_READY_KEYS = ("message_type", "drop_id", "pdfs_per_bsn", "separator", "kind", "mode", "send_at", "publication_date")


def _schedule(send_at: object, publication_date: object, kind: str, problems: list[str], *, dutch_time: bool,
              now: datetime | None) -> schedule_rules.Schedule:
    """``send_at`` / ``publication_date`` by the rules of every channel (bbx.domain.schedule)."""
    if send_at in (None, "") and publication_date in (None, ""):
        return schedule_rules.NOW
    if kind == population.KIND_POPULATION:
        problems.append(_("a population list (kind: population) is never sent: leave out send_at and "
                          "publication_date"))
        return schedule_rules.NOW
    for field_name, value in (("send_at", send_at), ("publication_date", publication_date)):
        if value is not None and not isinstance(value, str):
            problems.append(_("\"{field}\" must be text, e.g. {example}", field=field_name,
                              example="\"2026-05-01T08:00:00+02:00\"" if field_name == "send_at" else "\"2026-05-01\""))
            return schedule_rules.NOW
    try:
        return schedule_rules.from_text(send_at, publication_date, dutch_time=dutch_time, now=now)
    except schedule_rules.ScheduleError as exc:
        problems.append(str(exc))
        return schedule_rules.NOW


def _kind_mode(kind: object, mode: object, message_type: object, problems: list[str]) -> tuple[str, str | None]:
    """``kind`` (messages | population) and, for a population list, its ``mode``."""
    kind = population.parse_kind(kind, problems)
    if kind != population.KIND_POPULATION:
        if mode not in (None, ""):
            problems.append(_("\"mode\" is only for a population list (kind: population)"))
        return kind, None
    if message_type not in (None, ""):
        problems.append(_("a population list (kind: population) has no message_type: it is never sent"))
    return kind, population.parse_mode(mode, problems)


def _message_type(value: object, problems: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.append(_("\"message_type\" is missing (the code of the message type, e.g. UPO2026)"))
        return ""
    value = value.strip()
    if len(value) > MAX_MESSAGE_TYPE_CODE_CHARS:
        problems.append(_("message_type {value} is longer than {max} characters",
                          value=repr(value), max=MAX_MESSAGE_TYPE_CODE_CHARS))
    return value


def _drop_id(value: object, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_DROP_ID_CHARS or _has_control(value):
        problems.append(_("\"drop_id\" must be text of 1-{max} characters", max=MAX_DROP_ID_CHARS))
        return None
    return value.strip()


def _rule(value: object, problems: list[str]) -> PdfRule | None:
    if value is None:
        return None
    try:
        return parse_pdf_rule(value)
    except ValueError as exc:
        problems.append(str(exc))
        return None


def _separator(value: object, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in _SEPARATORS:
        problems.append(_("\"separator\" must be \";\", \",\" or \"tab\", not {value}", value=repr(value)))
        return None
    return _SEPARATORS[value.lower()]


def _files(value: object, problems: list[str]) -> tuple[ManifestFile, ...]:
    if not isinstance(value, list) or not value:
        problems.append(_("\"files\" must list every file of the drop: [{example}, ...]",
                          example='{"name": ..., "sha256": ...}'))
        return ()
    files: list[ManifestFile] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = f"files[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            problems.append(_("{where} needs a \"name\"", where=where))
            continue
        extra = set(item) - {"name", "sha256", "size"}
        if extra:
            problems.append(_("{where}: unknown field(s) {fields}", where=where, fields=", ".join(sorted(extra))))
        name = item["name"]
        unsafe = unsafe_name(name)
        if unsafe:
            problems.append(f"{where} ({display_name(name)[:60]!r}): {unsafe}")
            continue
        if is_marker(name):
            problems.append(_("{where}: do not list the marker {name} itself", where=where, name=repr(name)))
            continue
        if name.lower() in seen:
            problems.append(_("{where}: {name} is listed twice", where=where, name=repr(name)))
        seen.add(name.lower())
        sha = item.get("sha256")
        if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
            problems.append(_("{where} ({name}): \"sha256\" must be 64 hexadecimal characters", where=where, name=name))
            continue
        size = item.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            problems.append(_("{where} ({name}): \"size\" must be a whole number of bytes", where=where, name=name))
            continue
        files.append(ManifestFile(name, sha.lower(), size))
    return tuple(files)


# --------------------------------------------------------------------------- names and files


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def display_name(name: str) -> str:
    """A file name fit for reports and logs: control characters shown as escapes."""
    if not _has_control(name):
        return name
    return "".join(ch.encode("unicode_escape").decode("ascii") if _has_control(ch) else ch for ch in name)


def unsafe_name(name: str) -> str | None:
    """Why a file name cannot be accepted, or None. Refuses path parts, control characters,
    hidden files and names a file system would treat specially."""
    if not name or not name.strip():
        return _("an empty file name")
    if name in (".", "..") or ".." in name:
        return _("file names must not contain '..'")
    if "/" in name or "\\" in name:
        return _("file names must not contain / or \\ (no folders or paths)")
    if _has_control(name):
        return _("the file name contains control characters")
    if name.startswith("."):
        return _("hidden files (name starting with '.') are not accepted")
    if name != name.strip():
        return _("the file name starts or ends with a space")
    if len(name.encode("utf-8")) > 255:
        return _("the file name is longer than 255 bytes")
    return None


def drop_name_problem(name: str) -> str | None:
    """Why a drop folder name cannot be accepted, or None."""
    if not _DROP_NAME.match(name):
        shown = name.encode("unicode_escape").decode("ascii")
        return _("the drop folder name {name} is not accepted: use 1-100 letters, digits, "
                 "spaces, '.', '_', '+' or '-', starting with a letter or digit", name=repr(shown))
    return None


def safe_label(name: str) -> str:
    """A drop name fit for file names in outbox/ (anything unusual becomes '_')."""
    label = re.sub(r"[^A-Za-z0-9._+-]", "_", name)[:100].strip("._") or "drop"
    return label


@dataclass(frozen=True)
class ListedFile:
    """One entry of a drop folder as the SFTP server listed it."""

    name: str
    size: int
    kind: str = "file"  # "file" | "dir" | "link" | "other"
    mtime: float | None = None


@dataclass(frozen=True)
class DropFile:
    """A file of a drop and what BBX makes of it."""

    name: str
    size: int
    role: str  # "marker" | "list" | "pdf" | "unknown"
    bsn: str | None = None  # personal PDF: the (normalised) BSN of its file name
    position: int | None = None  # personal PDF: 1 or 2 (or higher: refused per row)
    problem: str | None = None  # why the file cannot be used (drop-level problem)


NOTHING_TO_SEND = "nothing_to_send"  # a DropProblem.kind: no list file and no PDFs


@dataclass(frozen=True)
class DropProblem:
    """A problem of the drop as a whole (or of one of its files): the drop is rejected.
    ``kind`` names a problem that a caller treats differently (by code, never by its
    wording, which is translated): ``NOTHING_TO_SEND``."""

    file: str | None
    reason: str
    kind: str = field(default="", compare=False)

    def text(self) -> str:
        return f"{self.file}: {self.reason}" if self.file else self.reason


def problems_summary(problems: list[DropProblem], most: int = 5) -> str:
    """The problems of a drop rejected as a whole as its reason keeps them: the first
    ``most``, and how many more (the outbox report lists every one)."""
    shown = "; ".join(p.text() for p in problems[:most])
    if len(problems) > most:
        shown = _("{shown} (and {n} more)", shown=shown, n=len(problems) - most)
    return shown


def classify(entry: ListedFile, limits: IntakeLimits = DEFAULT_LIMITS) -> DropFile:
    """What a listed entry is, and whether it can be used."""
    name = entry.name
    unsafe = unsafe_name(name)
    if unsafe:
        return DropFile(name, entry.size, "unknown", problem=unsafe)
    if entry.kind == "dir":
        return DropFile(name, entry.size, "unknown", problem=_(
            "sub-folders are not accepted in a drop: put all files directly in the drop folder"))
    if entry.kind != "file":
        return DropFile(name, entry.size, "unknown", problem=_(
            "not a regular file (links and special files are not accepted)"))
    if is_marker(name):
        return DropFile(name, entry.size, "marker")
    lower = name.lower()
    if entry.size > limits.max_file_bytes:
        return DropFile(name, entry.size, "unknown",
                        problem=_(
            "the file is {n} bytes; at most {max} bytes per file are accepted: split the drop",
            n=number(entry.size), max=number(limits.max_file_bytes)))
    if lower.endswith(LIST_SUFFIXES):
        if entry.size == 0:
            return DropFile(name, 0, "list", problem=_("the file is empty (0 bytes)"))
        return DropFile(name, entry.size, "list")
    if lower.endswith(PDF_SUFFIX):
        match = _PDF_NAME.match(name)
        if not match:
            return DropFile(name, entry.size, "pdf", problem=_(
                "a personal PDF must be named <BSN>_1.pdf or <BSN>_2.pdf (for example 123456782_1.pdf)"))
        checked = bsn_rules.check(match.group("bsn"))
        if checked.error:
            return DropFile(name, entry.size, "pdf", problem=_(
                "the file name does not start with a valid BSN: {error}", error=checked.error))
        position = int(match.group("position"))
        if position < 1:
            return DropFile(name, entry.size, "pdf", problem=_("the number after the BSN must be 1 or 2"))
        return DropFile(name, entry.size, "pdf", bsn=checked.bsn, position=position)
    if lower.endswith(SPREADSHEET_SUFFIXES):
        return DropFile(name, entry.size, "unknown", problem=_(
            "unknown file: a spreadsheet is not read as a list; in Excel use Save as → CSV (semicolon "
            "separated) (*.csv) and put the .csv file in the drop instead"))
    return DropFile(name, entry.size, "unknown", problem=_(
        "unknown file: a drop holds list files (.csv or .txt), personal PDFs (<BSN>_1.pdf) and its "
        "marker (manifest.json or READY) only; remove this file"))


# --------------------------------------------------------------------------- completeness


def manifest_complete(manifest: Manifest, listing: Mapping[str, ListedFile]) -> bool:
    """A manifest drop is complete when every listed file is there with its listed size."""
    if manifest.files is None:
        return True
    for item in manifest.files:
        present = listing.get(item.name)
        if present is None or (item.size is not None and present.size != item.size):
            return False
    return True


@dataclass(frozen=True)
class ReceivedFile:
    name: str
    size: int
    sha256: str


def check_manifest(manifest: Manifest, received: Mapping[str, ReceivedFile]) -> str | None:
    """Compare a checksummed manifest with the files received: None when they agree, else
    the one error that rejects the whole drop."""
    if manifest.files is None:
        return None
    problems: list[str] = []
    listed = {f.name for f in manifest.files}
    for item in manifest.files:
        got = received.get(item.name)
        if got is None:
            problems.append(_("{file} is listed but was not received", file=item.name))
        elif item.size is not None and got.size != item.size:
            problems.append(_("{file} has {n} bytes, the manifest says {listed}",
                               file=item.name, n=number(got.size), listed=number(item.size)))
        elif got.sha256 != item.sha256:
            problems.append(_("{file} has sha256 {sha256}, the manifest says {listed}",
                               file=item.name, sha256=got.sha256, listed=item.sha256))
    for name in sorted(set(received) - listed):
        if not is_marker(name):
            problems.append(_("{file} is in the drop but not listed in the manifest", file=name))
    if not problems:
        return None
    return _("{marker} does not match the files received ({problems}): "
             "the whole drop was not processed; upload the drop again with a correct manifest",
             marker=manifest.marker, problems="; ".join(problems))


def fingerprint(message_type: str, received: Iterable[ReceivedFile]) -> str:
    """The content fingerprint of a drop: message type + every data file's name and sha256
    (markers excluded), so the same content re-uploaded is recognised."""
    import hashlib

    digest = hashlib.sha256(f"{PROTOCOL}\x1f{message_type}".encode())
    for item in sorted((r for r in received if not is_marker(r.name)), key=lambda r: r.name.lower()):
        digest.update(f"\x1e{item.name.lower()}\x1f{item.sha256}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class DropPlan:
    """The files of a drop sorted by role (for the checks in drop_check)."""

    lists: tuple[DropFile, ...]
    pdfs: tuple[DropFile, ...]
    problems: tuple[DropProblem, ...] = field(default_factory=tuple)


def sort_files(files: Iterable[DropFile], limits: IntakeLimits = DEFAULT_LIMITS) -> DropPlan:
    files = sorted(files, key=lambda f: f.name.lower())
    problems = [DropProblem(display_name(f.name), f.problem) for f in files if f.problem]
    if len(files) > limits.max_files:
        problems.append(DropProblem(None, _("the drop holds {n} files; at most {max} are accepted: split it",
                                             n=number(len(files)), max=number(limits.max_files))))
    lists = tuple(f for f in files if f.role == "list" and not f.problem)
    pdfs = tuple(f for f in files if f.role == "pdf" and not f.problem)
    slots: dict[tuple[str, int], str] = {}
    for pdf in pdfs:
        key = (pdf.bsn, pdf.position)
        if key in slots:
            problems.append(DropProblem(display_name(pdf.name),
                                        _("same BSN and number as {file}: keep one of the two", file=slots[key])))
        else:
            slots[key] = pdf.name
    return DropPlan(lists, pdfs, tuple(problems))
