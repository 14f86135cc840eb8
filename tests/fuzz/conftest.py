import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from api_helpers import app, client, configured, keys  # noqa: E402, F401 (fixtures)
