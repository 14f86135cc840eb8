"""Capacity of the MijnOverheid simulator: messages per second and peak memory.

The simulator must never be the bottleneck of a delivery benchmark: the target is at
least 5,000 messages/s of standard-text batches on a 2-core machine. This script

1. makes a test PKI and starts ``python -m simulator`` as a subprocess with one sender
   whose population is 1,000,000 subscribers (computed, not stored);
2. builds full GLOBE batches (1,000 standard-text messages each, unique BerichtIDs, a
   mix of subscribed and unsubscribed BSNs) *before* timing, as raw SOAP sendMessage
   requests;
3. sends them over several keep-alive mTLS connections and times accept-to-answer
   (the simulator validates each batch against the official XSD and decides every
   message synchronously, so the time includes all of the processing);
4. prints messages/s, the server's peak RSS (VmHWM), and checks the counts;
5. optionally times a full-list register answer for the 1,000,000 population.

Run: ``.venv/bin/python bench/bench_simulator.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.client import AdminClient, client_context  # noqa: E402
from simulator.pki import make_test_pki  # noqa: E402
from simulator.samples import (  # noqa: E402
    SampleBericht,
    batch_xml,
    register_request_xml,
    send_message_envelope,
)

OIN = "00000001001234567000"
CPA = f"cpa-{OIN}"
PARTY = f"urn:osb:oin:{OIN}"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_simulator(folder: Path, population: int) -> tuple[subprocess.Popen, dict]:
    config = {
        "result_delay": 0.2,
        "register_delay": 0.0,
        "senders": [
            {
                "oin": OIN,
                "message_types": ["UPO2026"],
                "population": {"seed": 7, "size": population},
            }
        ],
    }
    (folder / "config.json").write_text(json.dumps(config))
    ready = folder / "ready.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "--config",
            str(folder / "config.json"),
            "--pki-dir",
            str(folder),
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the simulator did not start")
        time.sleep(0.05)
    return process, json.loads(ready.read_text())


def build_requests(admin: AdminClient, batches: int, per_batch: int) -> list[bytes]:
    active = admin.sample(OIN, "active", limit=2000)
    never = admin.sample(OIN, "never", limit=200)
    pool = active * 9 + never  # about 90 % subscribed
    requests, n = [], 0
    for _ in range(batches):
        berichten = []
        for _ in range(per_batch):
            berichten.append(SampleBericht(bsn=pool[n % len(pool)]))
            n += 1
        payload = batch_xml(berichten, OIN)
        requests.append(
            send_message_envelope(
                cpa_id=CPA, from_party=PARTY, action="GLOBE-R-BV-Request", payload=payload
            )
        )
    return requests


def send_all(
    base_url: str, context, requests: list[bytes], connections: int
) -> tuple[float, list[int]]:
    host, port = base_url.removeprefix("https://").rsplit(":", 1)
    statuses: list[int] = []
    lock = threading.Lock()
    queue = list(enumerate(requests))

    def worker() -> None:
        conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=300)
        while True:
            with lock:
                if not queue:
                    break
                _, body = queue.pop()
            conn.request(
                "POST",
                "/service/ebms",
                body=body,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            )
            response = conn.getresponse()
            response.read()
            with lock:
                statuses.append(response.status)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses


def time_register_answer(base_url: str, context, admin: AdminClient) -> None:
    host, port = base_url.removeprefix("https://").rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=300)
    body = send_message_envelope(
        cpa_id=CPA, from_party=PARTY, action="GLOBE-R-A-Request", payload=register_request_xml(OIN)
    )
    started = time.perf_counter()
    conn.request("POST", "/service/ebms", body=body, headers={"Content-Type": "text/xml"})
    conn.getresponse().read()
    while True:
        record = admin.register_requests()[-1]
        if record["outcome"] != "pending":
            break
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    answer = next(m for m in admin.inbound() if m["message_id"] in record["answer_message_ids"])
    print(
        f"register full list: {record['entries']:,} subscriptions ({answer['bytes'] / 1e6:.1f} MB gzip) "
        f"answered in {elapsed:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="batches to send (default 200)")
    parser.add_argument(
        "--per-batch", type=int, default=1000, help="messages per batch (default 1000)"
    )
    parser.add_argument(
        "--connections", type=int, default=4, help="parallel connections (default 4)"
    )
    parser.add_argument(
        "--population", type=int, default=1_000_000, help="subscribers (default 1,000,000)"
    )
    parser.add_argument(
        "--no-register", action="store_true", help="skip the register answer timing"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        folder = Path(tmp)
        pki = make_test_pki(folder, [OIN])
        process, info = start_simulator(folder, args.population)
        try:
            base_url = info["base_url"]
            admin = AdminClient(base_url, pki.ca, pki.admin, timeout=300)
            context = client_context(pki.ca, pki.client(OIN))
            print(
                f"simulator pid {process.pid} at {base_url}; population {args.population:,}; "
                f"RSS after start {peak_rss_mb(process.pid):.0f} MB"
            )
            built = time.perf_counter()
            requests = build_requests(admin, args.batches, args.per_batch)
            size_mb = sum(len(r) for r in requests) / 1e6
            print(
                f"built {len(requests)} batches x {args.per_batch} messages "
                f"({size_mb:.0f} MB of SOAP) in {time.perf_counter() - built:.1f} s"
            )
            # warm-up: one batch (schema pools, connections)
            send_all(base_url, context, requests[:1], 1)
            elapsed, statuses = send_all(base_url, context, requests[1:], args.connections)
            sent = (len(requests) - 1) * args.per_batch
            stats = admin.stats()
            rss = peak_rss_mb(process.pid)
            print(f"sent {sent:,} messages in {elapsed:.2f} s over {args.connections} connections")
            print(
                f"throughput: {sent / elapsed:,.0f} messages/s ({(len(requests) - 1) / elapsed:.1f} batches/s)"
            )
            print(f"peak RSS of the simulator: {rss:.0f} MB")
            print(f"codes: {stats['codes']}")
            ok = (
                all(s == 200 for s in statuses)
                and stats["messages_received"] == sent + args.per_batch
            )
            print(
                "check: all HTTP 200 and every message counted:",
                "OK" if ok else f"FAILED {set(statuses)}",
            )
            if not args.no_register:
                time_register_answer(base_url, context, admin)
                print(
                    f"peak RSS of the simulator after the register answer: {peak_rss_mb(process.pid):.0f} MB"
                )
            admin.close()
            return 0 if ok else 1
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
