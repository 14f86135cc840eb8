"""A worker killed in the middle of a slice (a real SIGKILL of a real process), then a
rerun: nothing lost, nothing in a citizen's box twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from delivery_helpers import assert_exactly_once, bsns, rows_for

from bbx.delivery import plan, results, send
from bbx.store import batches as batch_store

SEND_SLICE = """
import json, sys
from bbx.delivery.send import send_batches
send_batches(json.loads(sys.argv[1]))
"""


def test_worker_killed_mid_slice_then_rerun(world):
    numbers = bsns(4200, seed=61)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers))
    planned = plan.plan_run("run-crash", max_map_length=1024, url=world.url)
    (the_slice,) = planned["slices"]
    assert len(the_slice["batch_ids"]) == 5

    sim = world.sim
    sim.admin.set_faults(latency=0.4)  # every call takes a while: the kill lands mid-slice
    env = {**os.environ, **world.airflow_env, "BBX_DATABASE_URL": world.url}
    worker = subprocess.Popen([sys.executable, "-c", SEND_SLICE, json.dumps(the_slice["batch_ids"])], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while sim.admin.stats()["batches"] < 2:  # MijnOverheid accepted the second batch ...
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the worker sent nothing"
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)  # ... and the worker dies before it can record that
    finally:
        worker.kill()
        worker.wait(10)
    assert worker.returncode == -signal.SIGKILL

    statuses = [batch_store.batch(world.db, b)["status"] for b in the_slice["batch_ids"]]
    world.db.commit()
    assert statuses.count("planned") >= 3, statuses  # the rest of the slice was never sent
    sim.admin.set_faults(latency=0.0)

    # the rerun (a task retry): sends only what was never acknowledged, same ids
    rerun = send.send_batches(the_slice["batch_ids"], url=world.url)
    assert rerun.outcomes["sent"] == statuses.count("planned")
    assert rerun.outcomes["already_sent"] == statuses.count("sent")
    deadline = time.monotonic() + 60
    while results.open_submissions([sid], url=world.url):
        results.collect(submission_ids=[sid], url=world.url)
        assert time.monotonic() < deadline
        time.sleep(0.05)

    counts = world.counts(sid)
    assert counts["delivered"] == 4200 and world.status(sid) == "closed"
    assert assert_exactly_once(world, [sid]) == 4200
    stats = sim.admin.stats()
    assert stats["delivered"] == 4200
    # a batch MijnOverheid had accepted but BBX had not recorded went again with the same
    # BatchID and BerichtIDs: MijnOverheid answered BerichtBestaatAl, no second copy
    resent = stats["bericht_ids_received_more_than_once"]
    assert resent in (0, 1000), resent  # the batch in flight at the kill, or none
    assert stats["codes"].get("BerichtBestaatAl", 0) == resent
    codes = world.db.execute(
        "SELECT DISTINCT outcome_code FROM messages WHERE submission_id = %s", (sid,)).fetchall()
    world.db.commit()
    assert {r["outcome_code"] for r in codes} <= {"Verwerkt", "BerichtBestaatAl"}
