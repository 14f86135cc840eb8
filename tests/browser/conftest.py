"""Browser tests reuse the web-service fixtures (tests/api/api_helpers.py).

They need Debian's Chromium (``scripts/ensure-chromium.sh``, run by ``make test``). A missing
browser fails them: a skipped browser test would look like a passed one in CI. Set
``BBX_SKIP_BROWSER=1`` to leave them out on purpose (a machine where Chromium can't be had).
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from api_helpers import app, configured, keys  # noqa: E402, F401 (fixtures)

CHROMIUM = Path("/usr/bin/chromium")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    mine = [item for item in items if here in Path(str(item.fspath)).parents]
    if os.environ.get("BBX_SKIP_BROWSER") == "1":
        for item in mine:
            item.add_marker(pytest.mark.skip(reason="BBX_SKIP_BROWSER=1: browser tests left out on purpose"))


@pytest.fixture(autouse=True)
def _chromium_present():
    if not CHROMIUM.exists():
        pytest.fail(f"browser tests need Debian's chromium at {CHROMIUM} "
                    "(apt-get install chromium; scripts/ensure-chromium.sh), or BBX_SKIP_BROWSER=1")
