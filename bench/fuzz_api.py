"""The longer fuzz run of the web service (Schemathesis against its own OpenAPI), the
same checks as ``tests/fuzz/test_api_fuzz.py`` with more cases and a chosen seed.

Makes a fresh database ``bbx_hardening_fuzz`` (sample configuration, two tenants with a
submission each), runs the app in-process (ASGI) and prints the cases run per status
and every finding (with a curl command to reproduce it). Exit status 1 when there are
findings. Run: ``.venv/bin/python bench/fuzz_api.py [--cases 100] [--seed 1]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_database_url, fresh_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fuzz"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100, help="cases per operation and generation mode")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    from bbx import settings

    url = bench_database_url("bbx_hardening_fuzz")
    os.environ.update({"BBX_DATABASE_URL": url,
                       "BBX_KEY_FILE": str(Path(tempfile.mkdtemp(prefix="bbx_fuzz_")) / "content.key")})
    settings.database_url.cache_clear()
    import fuzzing
    from fastapi.testclient import TestClient

    from bbx import crypto
    from bbx.api.app import create_app
    from bbx.store import api_keys, db

    crypto.create_key_file()
    fresh_database(url)
    with db.transaction(url) as conn:
        a = api_keys.create_key(conn, tenant_code="gemeente-voorbeeld", operator=False, name="fuzz A",
                                created_by="bench").key
        b = api_keys.create_key(conn, tenant_code="pensioenuitvoerder", operator=False, name="fuzz B",
                                created_by="bench").key
    statuses: collections.Counter = collections.Counter()
    app = create_app()
    started = time.perf_counter()
    try:
        with TestClient(app, base_url="http://testserver") as client:
            world = fuzzing.make_world(client, a, b)
            count, findings = fuzzing.run(
                app, world, headers={"Authorization": f"Bearer {a}", "Idempotency-Key": "fuzz-1"},
                cases_per_operation=args.cases, seed=args.seed,
                on_case=lambda case, response: statuses.update([response.status_code]))
    finally:
        if not args.keep:
            db.drop_database(url)
    print(json.dumps({"cases": count, "seconds": round(time.perf_counter() - started, 1), "seed": args.seed,
                      "statuses": dict(sorted(statuses.items())), "findings": len(findings)}, indent=2))
    for finding in findings:
        print("FINDING", finding)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
