"""``python -m bbx.stack``: see ``bbx.stack.cli``."""

import sys

from bbx.stack.cli import main

sys.exit(main())
