"""Where BBX's own schemas live, and a cached loader for them.

The one place that turns "the GLOBE request schema" into a path: everything else asks
this module. BBX's schemas are its own copies of the contract (``include/schemas/``);
the official Logius files are only used by the tests, never at run time.

Compiled schemas are cached per thread: an lxml ``XMLSchema`` keeps its error log on
the instance, so one object must not validate in two threads at once (the API server
runs sync handlers in a thread pool).
"""

from __future__ import annotations

import threading
from pathlib import Path

from lxml import etree

import bbx

# plugins/bbx/__init__.py -> parents[2] is the project root (editable install).
PROJECT_ROOT = Path(bbx.__file__).resolve().parents[2]
SCHEMAS_DIR = PROJECT_ROOT / "include" / "schemas"

GLOBE_BATCH_REQUEST = "globe/GLOBEBatchRequest.xsd"
GLOBE_BATCH_RESPONSE = "globe/GLOBEBatchResponse.xsd"

_local = threading.local()


def schema_path(relative: str) -> Path:
    """Absolute path of a schema file under ``include/schemas``."""
    return SCHEMAS_DIR / relative


def xml_schema(relative: str) -> etree.XMLSchema:
    """The compiled XSD ``include/schemas/<relative>``, loaded once per thread.

    Imports inside the schema are resolved relative to the file, never over the
    network.
    """
    cache: dict[str, etree.XMLSchema] | None = getattr(_local, "schemas", None)
    if cache is None:
        cache = _local.schemas = {}
    schema = cache.get(relative)
    if schema is None:
        path = schema_path(relative)
        if not path.is_file():
            raise FileNotFoundError(
                f"BBX schema {relative} not found in {SCHEMAS_DIR}: "
                "is the project's include/ folder deployed next to plugins/?"
            )
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        schema = cache[relative] = etree.XMLSchema(etree.parse(str(path), parser))
    return schema
