"""``python -m bbx.demo`` (``make demo``): see ``bbx.demo.cli``."""

import sys

from bbx.demo.cli import run

sys.exit(run())
