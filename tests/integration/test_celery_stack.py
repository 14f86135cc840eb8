"""BBX on the CeleryExecutor (issue 15), short: the Celery stack of ``make stack
EXECUTOR=celery`` (Redis broker, two ``berichtenbox`` workers and one ``default`` worker),
3,000 messages over three connections; one sending worker is ``kill -9``'d while it runs
a send task and a replacement started. Every submission closes and every message's
outcome agrees with the simulator's boxes: lost 0, delivered twice 0, wrong outcomes 0.
The long run (200,000 messages, the scheduler killed too, 1 vs 2 workers) is
``bench/bench_celery.py``."""

import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_celery_stack_loses_nothing_when_a_sending_worker_is_killed(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    # databases and Redis DB of this test's own (the bench uses others)
    monkeypatch.setenv("BBX_CELERY_BENCH_DB", f"bbx_celery_test_{os.getpid()}")
    monkeypatch.setenv("BBX_CELERY_REDIS_DB", "5")
    # a task the killed worker had received but not started waits in `queued` for this
    # long (600 s in a deployment); the pool keeps tasks from waiting in Celery otherwise
    monkeypatch.setenv("BBX_TASK_QUEUED_TIMEOUT", "90")
    # the killed worker's send is re-run sooner, not otherwise: its task instance is failed
    # after 30 s without heartbeat (the bench 60 s, a deployment 300 s; tasks heartbeat
    # every 5 s) and retried after 5 s (60 s otherwise)
    short = {"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
             "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
             "BBX_DELIVERY_RETRY_DELAY_SECONDS": "5"}
    import bench_celery

    result = bench_celery.run_once(messages=3000, submissions=5, share=0.9, send_workers=2, concurrency=2,
                                   pool_slots=4, latency=1.0, timeout=1200, chaos=True, kill_scheduler=False, extra_env=short,
                                   say=lambda line: print(line, file=sys.stderr))
    print(f"closed after {result['closed']} s; timeline {result['timeline']}; {result['chaos']}", file=sys.stderr)
    assert any(step.startswith("kill -9 celery-worker-") for step in result["chaos"]), result["chaos"]
    assert any(step.startswith("replacement celery-worker-") for step in result["chaos"]), result["chaos"]
    assert result["closed"] is not None, f"not every submission closed: {result['counts']}"
    assert result["messages"] == 3000
    assert result["counts"].get("delivered") == 2700 and result["counts"].get("not_subscribed") == 300, \
        result["counts"]
    assert (result["lost"], result["twice"], result["wrong"]) == (0, 0, 0), result["examples"]
