"""Browser tests reuse the web-service fixtures (tests/api/api_helpers.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from api_helpers import app, configured, keys  # noqa: E402, F401 (fixtures)
