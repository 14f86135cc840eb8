"""What the demo's parts share: its folders, timings, exit codes and the step line."""

from __future__ import annotations

from bbx import settings

SAMPLE_CONFIG = settings.SAMPLE_CONFIG
DEMO_DIR = settings.DATA_DIR / "demo"
OUT_DIR = settings.PROJECT_ROOT / "demo-out"
# The simulator answers within a second, so the demo polls every second instead of the
# production intervals (register answers: 5 min; delivery results: 30 s).
DEMO_TIMINGS = {"BBX_REGISTER_POKE_SECONDS": "1", "BBX_RESULT_POLL_SECONDS": "1", "BBX_HOOK_BACKOFF": "0.2"}

# exit codes of `make demo` (documented in README and docs/operations.md)
EXIT_OK = 0  # every submission reconciled and closed
EXIT_FAILED = 1  # BBX (or the platform) failed: a run failed, a timeout, counts that do not add up
EXIT_USAGE = 2  # wrong arguments or configuration
EXIT_REJECTED = 3  # --drop was rejected by intake, as designed (the tenant's report is in the outbox)
EXIT_MEANING = {EXIT_OK: "every submission reconciled", EXIT_FAILED: "BBX or the platform failed",
                EXIT_USAGE: "wrong arguments or configuration", EXIT_REJECTED: "the drop was rejected as designed"}


def step(text: str) -> None:
    print(f"==> {text}", flush=True)
