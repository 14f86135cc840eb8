"""Accepted → closed for a 10-BSN send on the running demo stack (``make demo`` first).

Target (issue 12): <= 30 s. Nobody triggers anything: the web service (and the manual
page, the same call) announce the submission with an asset event, the scheduler starts
``bbx_deliver``, the triggerer waits for the results. Sends 10 subscribed citizens of
connection ``voorbeeld`` (message type PASPRT, standard text) through the web service
and, for the manual page, the same through its form (signed in as a person of the tenant);
prints each figure, the bbx_deliver run that took it, and beside them the plain baseline:
the 5-minute timer the submission would otherwise have waited for (up to 300 s).

Run: ``.venv/bin/python bench/bench_send_to_closed.py`` (``--rounds N``). With
``--own-stack`` (what ``make bench`` passes) and no running stack it starts its own, as
``bench_delivery_e2e`` does (``bbx.stack`` on fresh ``bbx_bench_manual`` databases, the
demo's timings, 200 citizens of ``voorbeeld`` in the register and subscribed at the
simulator), and stops it afterwards; a failed run keeps its work folder (the logs).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OIN = "00000001001234567000"  # connection voorbeeld of the sample configuration


def _wait_closed(url: str, submission_id: int, timeout: float = 300) -> float | None:
    from bbx.store import db

    started = time.monotonic()
    with db.connect(url) as conn:
        received = conn.execute("SELECT received_at FROM submissions WHERE id = %s", (submission_id,)).fetchone()
        while time.monotonic() - started < timeout:
            row = conn.execute("SELECT status, closed_at FROM submissions WHERE id = %s", (submission_id,)).fetchone()
            conn.commit()
            if row["status"] == "closed":
                return (row["closed_at"] - received["received_at"]).total_seconds()
            time.sleep(0.2)
    return None


def own_stack(work: Path, citizens: int = 200):
    """A stack of this bench's own (no ``make demo`` running): fresh databases, the demo's
    timings (results polled every second), ``citizens`` of ``voorbeeld`` subscribed in
    BBX's register and at the simulator. Returns the running ``Stack``."""
    import os

    from _common import prepare_databases
    from bench_delivery_e2e import _with_db, start_platform

    from bbx import crypto, settings
    from bbx.demo.common import DEMO_TIMINGS

    base = settings.database_url()
    bbx_url, af_url = _with_db(base, "bbx_bench_manual"), _with_db(base, "bbx_bench_manual_af")
    os.environ["BBX_KEY_FILE"] = str(work / "content.key")
    crypto.create_key_file()
    _, subscribed = prepare_databases(bbx_url, af_url, citizens, 1.0)
    running, admin = start_platform(work, bbx_url, af_url, subscribed, extra_env=DEMO_TIMINGS)
    admin.close()
    running.api().wait_for_dags(["bbx_deliver"], timeout=600)
    return running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--own-stack", action="store_true",
                        help="without a running stack, start one of its own (and stop it afterwards)")
    parser.add_argument("--json", action="store_true", help="print a BENCHROW line for bench/run_all.py")
    args = parser.parse_args(argv)
    from bbx import stack

    running = stack.Stack.load(stack.default_state_dir())
    if running is not None and running.running():
        return measure(running, args, where="demo stack")
    if not args.own_stack:
        print("no running stack: run `make demo` first (or pass --own-stack)", file=sys.stderr)
        return 2
    import shutil
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="bbx-bench-manual-"))
    print(f"no running stack: starting one of its own in {work}", flush=True)
    code = 1
    mine = None
    try:
        mine = own_stack(work)
        code = measure(mine, args, where="a stack of its own")
    finally:
        if mine is not None:
            stack.stop(mine.state_dir, quiet=True)
        if code == 0:
            from bbx.store import db

            for url in (mine.bbx_url, mine.airflow_url):
                db.drop_database(url)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"failed: kept {work} (stack logs {work / 'stack' / 'logs'}, task logs "
                  f"{work / 'airflow_home' / 'logs'})", flush=True)
    return code


def measure(running, args, *, where: str) -> int:
    """The sends on ``running`` (a ``bbx.stack.Stack``) and their figures."""
    import httpx

    from bbx.store import api_keys, db, users

    # the web service takes an API key; the manual page a person's account (issue 14)
    person, password = f"bench-{uuid.uuid4().hex[:8]}", users.new_password()
    with db.transaction(running.bbx_url) as conn:
        key = api_keys.create_key(conn, tenant_code="gemeente-voorbeeld", operator=False, name="bench",
                                  created_by="bench").key
        users.add(conn, username=person, password=password, role="tenant", tenant_code="gemeente-voorbeeld",
                  created_by="bench")
        used = {r["bsn"] for r in conn.execute("SELECT DISTINCT bsn FROM messages WHERE bsn IS NOT NULL")}
    admin = running.admin()
    figures = []
    for n in range(args.rounds):
        for channel in ("api", "manual"):
            bsns = [b for b in admin.sample(OIN, status="active", limit=len(used) + 40) if b not in used][:10]
            used.update(bsns)
            client = httpx.Client(base_url=f"{running.api_url}/bbx", timeout=60, follow_redirects=False)
            if channel == "api":
                response = client.post("/api/v1/connections/voorbeeld/messages",
                                       headers={"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex},
                                       json={"message_type": "PASPRT", "bsns": bsns})
                response.raise_for_status()
                submission_id = response.json()["id"]
            else:
                client.post("/login", data={"username": person, "password": password, "next": "/bbx/send"})
                response = client.post("/send", data={"message_type": "voorbeeld/PASPRT", "bsns": "\n".join(bsns),
                                                      "text": "", "reference": "", "token": uuid.uuid4().hex,
                                                      "action": "send"})
                if response.status_code != 303 or "done=" not in response.headers.get("location", ""):
                    print(f"manual page did not accept the send: {response.status_code} {response.text[:300]}")
                    return 1
                submission_id = int(response.headers["location"].split("done=")[1].split("&")[0])
            closed = _wait_closed(running.bbx_url, submission_id)
            figures.append((channel, submission_id, closed))
            print(f"round {n + 1} {channel:<6} submission {submission_id}: accepted → closed "
                  f"{'not within 300 s' if closed is None else f'{closed:.1f} s'}", flush=True)
    admin.close()
    runs = [r for r in running.api().runs("bbx_deliver", limit=10) if r["run_type"] == "asset_triggered"]
    print(f"bbx_deliver runs started by asset events (latest 10 runs): {len(runs)}")
    print("baseline (no announcement): the next 5-minute timer, i.e. up to 300 s before a run even starts")
    ok = all(c is not None for _, _, c in figures)
    print(f"target <= 30 s: {'met' if ok and max(c for _, _, c in figures) <= 30 else 'NOT met'}")
    if args.json:
        from _common import emit_row

        worst = max((c for _, _, c in figures if c is not None), default=None)
        emit_row(True, stage=f"manual send of 10 BSNs → closed ({where})",
                 bbx="not within 300 s" if not ok else f"{worst:.1f} s (slowest of {len(figures)})",
                 baseline="up to 300 s (5-minute timer)", ratio=None, rss_mb=None, target="<= 30 s",
                 met=ok and worst is not None and worst <= 30)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
