"""The web service fuzzed against its own OpenAPI description (Schemathesis, bounded,
derandomized: the same cases every run): no 5xx, every 4xx with BBX's error code and
message, and nothing of another tenant in any response. Tenant B has a submission with
BSNs; every generated request carries tenant A's key. ``bench/fuzz_api.py`` is the
longer run."""

from __future__ import annotations

import fuzzing
from api_helpers import auth

CASES_PER_OPERATION = 8  # x 2 modes x ~20 operations: a few hundred cases


def test_fuzz_web_service(app, client, keys):
    world = fuzzing.make_world(client, keys.a, keys.b)
    count, findings = fuzzing.run(app, world, headers={**auth(keys.a), "Idempotency-Key": "fuzz-1"},
                                  cases_per_operation=CASES_PER_OPERATION)
    assert count >= 200, count
    assert not findings, "\n".join(findings)
