"""Web service: send requests of 10,000 BSNs, small sends, BSN lookups and reports over
real HTTP (uvicorn) against PostgreSQL.

This script makes a fresh BBX database (``bbx_bench_api`` on the configured server) with
the sample configuration and a tenant API key, runs the BBX app with uvicorn in a thread
on a free port, and measures with an HTTP client in the same process:

1. ``--big`` send requests of 10,000 BSNs each (the per-call maximum): seconds per request
   and rows/s;
2. ``--small`` send requests of 10 BSNs: median and p95 latency;
3. ``--lookups`` BSN lookups: median and p95 latency;
4. each report (sent, undelivered, submission log, per-row CSV of a 10,000-row submission);

and prints the figures and the process's peak RSS (``resource.getrusage``; server and
client share the process). Run: ``.venv/bin/python bench/bench_api.py`` (``--keep``
leaves the database).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from _common import bench_database_url, fresh_database


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[max(int(len(ordered) * 0.95) - 1, 0)] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=5, help="send requests of 10,000 BSNs")
    parser.add_argument("--small", type=int, default=50, help="send requests of 10 BSNs")
    parser.add_argument("--lookups", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bbx_bench_api_"))
    from bbx import settings

    url = bench_database_url("bbx_bench_api")
    os.environ.update({"BBX_DATABASE_URL": url, "BBX_KEY_FILE": str(work / "content.key")})
    settings.database_url.cache_clear()

    import httpx
    import uvicorn

    from bbx import crypto
    from bbx.api.app import create_app
    from bbx.api.limits import MAX_BSNS_PER_CALL
    from bbx.domain import bsn as bsn_rules
    from bbx.store import api_keys, db

    crypto.create_key_file()
    fresh_database(url)
    with db.transaction(url) as conn:
        key = api_keys.create_key(conn, tenant_code="gemeente-voorbeeld", operator=False, name="bench",
                                  created_by="bench").key

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)

    figures: dict = {}
    people = bsn_rules.generate(args.big * MAX_BSNS_PER_CALL + args.small * 10, seed=5)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as http:
            def post(bsns: list[str]) -> dict:
                response = http.post("/api/v1/connections/voorbeeld/messages", json={
                    "message_type": "PASPRT", "bsns": bsns}, headers={"Idempotency-Key": str(uuid.uuid4())})
                assert response.status_code == 201, response.text[:500]
                return response.json()

            big_times, first_big = [], None
            for _ in range(args.big):
                batch = [next(people) for _ in range(MAX_BSNS_PER_CALL)]
                t = time.perf_counter()
                result = post(batch)
                big_times.append(time.perf_counter() - t)
                first_big = first_big or result["id"]
            figures["send_10000_bsns"] = {"requests": args.big, "median_s": round(statistics.median(big_times), 3),
                                          "rows_per_s": round(MAX_BSNS_PER_CALL / statistics.median(big_times))}
            small_times, lookup_bsns = [], []
            for _ in range(args.small):
                batch = [next(people) for _ in range(10)]
                lookup_bsns.append(batch[0])
                t = time.perf_counter()
                post(batch)
                small_times.append(time.perf_counter() - t)
            figures["send_10_bsns"] = _percentiles(small_times)
            lookup_times = []
            for i in range(args.lookups):
                t = time.perf_counter()
                response = http.post("/api/v1/bsn-lookup", json={"bsn": lookup_bsns[i % len(lookup_bsns)]})
                lookup_times.append(time.perf_counter() - t)
                assert response.status_code == 200
            figures["bsn_lookup"] = _percentiles(lookup_times)
            for name, path in (("report_sent", "/api/v1/connections/voorbeeld/reports/sent"),
                               ("report_undelivered", "/api/v1/connections/voorbeeld/reports/undelivered"),
                               ("submission_log", "/api/v1/submissions"),
                               ("rows_csv_10000", f"/api/v1/submissions/{first_big}/messages?format=csv")):
                t = time.perf_counter()
                response = http.get(path)
                assert response.status_code == 200, response.text[:300]
                figures[name] = {"ms": round((time.perf_counter() - t) * 1000, 1), "bytes": len(response.content)}
    finally:
        server.should_exit = True
        if not args.keep:
            time.sleep(0.5)
            db.drop_database(url)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
