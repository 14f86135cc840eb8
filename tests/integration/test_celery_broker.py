"""The Celery stack's broker (bbx.stack.ensure_redis): the Redis that answers, else a
redis-server of the stack's own that ``stop`` ends; a stack's keys go with it."""

import shutil

import pytest

from bbx import stack


def test_a_redis_that_answers_is_used():
    if not stack._redis_answers(6379):
        pytest.fail("Redis is expected at 127.0.0.1:6379 on this machine (brief)")
    assert stack.ensure_redis(stack.default_state_dir(), say=lambda _: None) == 6379


def test_without_a_redis_the_stack_starts_its_own_and_stop_ends_it(tmp_path):
    if shutil.which("redis-server") is None:
        with pytest.raises(stack.StackError, match="redis-server is not installed"):
            stack.ensure_redis(tmp_path, say=lambda _: None, port=stack.free_port())
        return
    nobody = stack.free_port()
    said = []
    port = stack.ensure_redis(tmp_path, say=said.append, port=nobody)
    assert port != nobody and stack._redis_answers(port)
    assert said == [f"redis-server started on 127.0.0.1:{port} (nothing answered on {nobody})"]
    sid = stack.read_pids(tmp_path)["redis"]
    assert stack.stop(tmp_path, quiet=True) == ["redis"]
    assert not stack._redis_answers(port) and stack._session_members(sid) == []


def test_stop_removes_the_stacks_keys_from_a_shared_redis(tmp_path):
    import redis

    env = stack.celery_environment(stack.StackSettings.default(
        bbx_url="postgresql://postgres@127.0.0.1:5432/bbx", state_dir=tmp_path, redis_db=6))
    prefix = env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX"]
    client = redis.Redis.from_url(env["AIRFLOW__CELERY__BROKER_URL"])
    client.rpush(f"{prefix}berichtenbox", "x")
    client.set("someone-else:key", "kept")
    try:
        stack._forget_broker_keys(env)
        assert list(client.scan_iter(match=f"{prefix}*")) == []
        assert client.get("someone-else:key") == b"kept"
    finally:
        client.delete("someone-else:key")
