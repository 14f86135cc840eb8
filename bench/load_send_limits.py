"""Load on the send endpoint to show the limits per tenant (issue 19): HTTP 429 with
Retry-After once a connection's rate, concurrency or daily cap is reached, counted alike
by two app servers (two "workers") because the state is in PostgreSQL; another tenant
sending at the same time is not refused.

Makes a fresh database ``bbx_hardening_load`` (sample configuration; connection
voorbeeld limited to --rate requests a minute, --concurrency at once and --cap messages
a day), runs the BBX app twice with uvicorn on two ports, and sends --requests requests
of 10 BSNs from --threads threads for tenant A (alternating between the two servers)
and a few for tenant B. Prints the statuses per server and per error code, the
Retry-After values seen, and whether the accepted count stayed within the limits.
Bounded: a fixed number of requests, loopback only. Run:
``.venv/bin/python bench/load_send_limits.py [--requests 80 --threads 8 --rate 30]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import bench_database_url, fresh_database


def _serve(app) -> tuple[object, int]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=80, help="send requests of tenant A")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rate", type=int, default=30, help="voorbeeld: requests per minute")
    parser.add_argument("--concurrency", type=int, default=3, help="voorbeeld: requests at once")
    parser.add_argument("--cap", type=int, default=150, help="voorbeeld: messages a day")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from bbx import settings

    url = bench_database_url("bbx_hardening_load")
    os.environ.update({"BBX_DATABASE_URL": url,
                       "BBX_KEY_FILE": str(Path(tempfile.mkdtemp(prefix="bbx_load_")) / "content.key")})
    settings.database_url.cache_clear()
    import httpx

    from bbx import crypto
    from bbx.api.app import create_app
    from bbx.domain import bsn as bsn_rules
    from bbx.store import api_keys, db

    crypto.create_key_file()
    fresh_database(url)
    with db.transaction(url) as conn:
        key_a = api_keys.create_key(conn, tenant_code="gemeente-voorbeeld", operator=False, name="load A",
                                    created_by="bench").key
        key_b = api_keys.create_key(conn, tenant_code="pensioenuitvoerder", operator=False, name="load B",
                                    created_by="bench").key
        conn.execute("UPDATE connections SET rate_limit_per_minute = %s, concurrency_limit = %s,"
                     " daily_message_cap = %s WHERE code = 'voorbeeld'", (args.rate, args.concurrency, args.cap))
    servers = [_serve(create_app()), _serve(create_app())]
    people = iter(bsn_rules.generate(10 * (args.requests + 20), seed=11))
    lock = threading.Lock()
    statuses: collections.Counter = collections.Counter()
    codes: collections.Counter = collections.Counter()
    retry_after: collections.Counter = collections.Counter()
    b_statuses: collections.Counter = collections.Counter()

    b_codes: collections.Counter = collections.Counter()

    def one(i: int, key: str, connection: str, message_type: str, tally) -> None:
        with lock:
            batch = [next(people) for _ in range(10)]
        port = servers[i % 2][1]
        response = httpx.post(f"http://127.0.0.1:{port}/api/v1/connections/{connection}/messages",
                              json={"message_type": message_type, "bsns": batch, "text": "Belastingbrief"},
                              headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
                              timeout=60)
        with lock:
            tally[(f"server{i % 2 + 1}", response.status_code)] += 1
            if response.status_code == 429:
                (codes if tally is statuses else b_codes)[response.json()["error"]["code"]] += 1
                if tally is statuses:
                    retry_after[response.headers["Retry-After"]] += 1

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(args.threads) as pool:
            jobs = [pool.submit(one, i, key_a, "voorbeeld", "PASPRT", statuses) for i in range(args.requests)]
            jobs += [pool.submit(one, i, key_b, "pf_metaal", "PENSBRF", b_statuses) for i in range(10)]
            for job in jobs:
                job.result()
        seconds = time.perf_counter() - started
        with db.connect(url) as conn:
            accepted_messages = conn.execute(
                "SELECT count(*) AS n FROM messages m JOIN submissions s ON s.id = m.submission_id"
                " JOIN connections c ON c.id = s.connection_id WHERE c.code = 'voorbeeld'").fetchone()["n"]
            left_running = conn.execute("SELECT count(*) AS n FROM send_inflight").fetchone()["n"]
    finally:
        for server, _ in servers:
            server.should_exit = True
        if not args.keep:
            time.sleep(0.5)
            db.drop_database(url)
    accepted = sum(n for (_, status), n in statuses.items() if status == 201)
    print(json.dumps({
        "limits_voorbeeld": {"per_minute": args.rate, "at_once": args.concurrency, "messages_a_day": args.cap},
        "seconds": round(seconds, 1),
        "tenant_a_statuses": {f"{s} {c}": n for (s, c), n in sorted(statuses.items())},
        "tenant_a_429_codes": dict(codes),
        "retry_after_seconds_seen": dict(sorted(retry_after.items(), key=lambda kv: int(kv[0]))),
        "tenant_a_accepted_requests": accepted,
        "tenant_a_accepted_messages": accepted_messages,
        "within_limits": accepted <= args.rate and accepted_messages <= args.cap,
        "tenant_b_statuses": {f"{s} {c}": n for (s, c), n in sorted(b_statuses.items())},
        "tenant_b_429_codes (its own connection's limits)": dict(b_codes),
        "concurrency_slots_left_taken": left_running,
    }, indent=2))
    return 0 if accepted <= args.rate and accepted_messages <= args.cap and left_running == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
