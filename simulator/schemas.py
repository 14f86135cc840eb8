"""The schemas the simulator checks against, loaded safely and shared between threads.

The simulator is the yardstick, so it validates with Logius's *official* files, read
at run time from ``--logius-dir`` (never copied into the project). Two quirks of the
official package are handled here, in one place:

* ``GLOBEBatchRequest.xsd`` imports ``GLOBEBatchRequestTypes.xsd``, but Logius ships
  that file as ``GLOBEBatchRequestTypes_128ch.xsd``;
* the ValidateAbonnementen schemas import each other from an internal host
  (``http://rdw64825.ot.tld:9002/BerichtenboxValidatieService?xsd=xsdN``).

Both are mapped to local files by an lxml resolver; the network is never used.

An lxml ``XMLSchema`` keeps its error log on the instance, so one object must not
validate in two threads at once: :class:`SchemaPool` lends each thread its own.
"""

from __future__ import annotations

import copy
import queue
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"

GLOBE_REQUEST = "BerichtVerwerkService/Request/GLOBEBatchRequest.xsd"
GLOBE_REQUEST_TYPES = "BerichtVerwerkService/Request/GLOBEBatchRequestTypes_128ch.xsd"
GLOBE_RESPONSE = "BerichtVerwerkService/Response/GLOBEBatchResponse.xsd"
VALIDATIE_DIR = "BerichtenboxValidatieService"
VALIDATIE_WSDL = f"{VALIDATIE_DIR}/BerichtenboxValidatieService.wsdl"
_INTERNAL_XSD = re.compile(r"^https?://[^/]+/BerichtenboxValidatieService\?xsd=(xsd\d)$")


def secure_parser(huge: bool = False) -> etree.XMLParser:
    """An XML parser that never resolves entities or touches the network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=huge, load_dtd=False)


class _LogiusResolver(etree.Resolver):
    """Maps the official package's broken or internal import locations to local files."""

    def __init__(self, logius_dir: Path) -> None:
        super().__init__()
        self.logius_dir = logius_dir

    def resolve(self, system_url, public_id, context):  # noqa: D102 (lxml API)
        url = system_url or ""
        if url.endswith("GLOBEBatchRequestTypes.xsd"):
            return self.resolve_filename(str(self.logius_dir / GLOBE_REQUEST_TYPES), context)
        match = _INTERNAL_XSD.match(url)
        if match:
            path = self.logius_dir / VALIDATIE_DIR / f"{match.group(1)}.xsd"
            return self.resolve_filename(str(path), context)
        return None


def load_official_xsd(logius_dir: Path, relative: str) -> etree.XMLSchema:
    """Compile one of Logius's XSDs from ``logius_dir`` (imports resolved locally)."""
    path = Path(logius_dir) / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"official Logius schema {relative} not found under {logius_dir}: "
            "pass --logius-dir (default ../shared/reference/logius)"
        )
    parser = secure_parser()
    parser.resolvers.add(_LogiusResolver(Path(logius_dir)))
    return etree.XMLSchema(etree.parse(str(path), parser))


def load_validatie_schema(logius_dir: Path) -> etree.XMLSchema:
    """The ValidateAbonnementen messages schema (xsd0.xsd and what it imports)."""
    return load_official_xsd(logius_dir, f"{VALIDATIE_DIR}/xsd0.xsd")


def load_own_xsd(path: Path) -> etree.XMLSchema:
    """One of BBX's own schemas in ``include/schemas``."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"schema {path} not found: is include/schemas deployed?")
    return etree.XMLSchema(etree.parse(str(path), secure_parser()))


def wsdl_types_schema(wsdl_path: Path) -> etree.XMLSchema:
    """The XML schema embedded in a WSDL's ``types`` section, as a validator."""
    wsdl = etree.parse(str(wsdl_path), secure_parser())
    schemas = wsdl.getroot().findall(f"{{{WSDL}}}types/{{{XS}}}schema")
    if len(schemas) != 1:
        raise ValueError(f"{wsdl_path}: expected exactly one xs:schema in wsdl:types")
    return etree.XMLSchema(etree.ElementTree(copy.deepcopy(schemas[0])))


class SchemaPool:
    """Lends out compiled copies of one schema, one per concurrent user."""

    def __init__(self, factory: Callable[[], etree.XMLSchema]) -> None:
        self._factory = factory
        self._free: queue.SimpleQueue[etree.XMLSchema] = queue.SimpleQueue()
        self._free.put(factory())  # fail at start-up, not at the first request

    @contextmanager
    def borrow(self) -> Iterator[etree.XMLSchema]:
        try:
            schema = self._free.get_nowait()
        except queue.Empty:
            schema = self._factory()
        try:
            yield schema
        finally:
            self._free.put(schema)

    def errors(self, doc: etree._Element | etree._ElementTree, limit: int = 3) -> list[str]:
        """Validation errors of ``doc`` (empty when valid), at most ``limit`` of them."""
        with self.borrow() as schema:
            if schema.validate(doc):
                return []
            return [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:limit]]
