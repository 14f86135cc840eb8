"""``python -m bbx.stack start|stop|status`` (``make stack``, ``make stop``, ``make status``)."""

from __future__ import annotations

import sys

import bbx.stack
from bbx import settings
from bbx.stack.prepare import prepare
from bbx.stack.processes import StackError, _session_members, default_state_dir, read_pids
from bbx.stack.running import ADMIN_USER, Stack, stop
from bbx.stack.stack_settings import StackSettings
from bbx.stack.start import start


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bbx.stack", description=bbx.stack.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--executor", choices=["local", "celery"], default="local",
                        help="start: LocalExecutor (as make demo) or CeleryExecutor with Redis and workers")
    parser.add_argument("--workers", default="default,berichtenbox,berichtenbox",
                        help="start, celery: one worker per comma-separated queue; '+' joins queues of one "
                             "worker (default: default,berichtenbox,berichtenbox)")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--pool-slots", type=int, default=4)
    args = parser.parse_args(argv)
    state_dir = default_state_dir()
    if args.action == "start":
        # BBX's database, migrations, content key, sample configuration (as make demo)
        prepare(say=lambda line: print(f"==> {line}", flush=True))
        s = StackSettings.default(executor=args.executor, pool_slots=args.pool_slots,
                                  worker_concurrency=args.worker_concurrency,
                                  celery_workers=tuple(w.replace("+", ",") for w in args.workers.split(",") if w))
        try:
            running = start(s, say=lambda line: print(f"    {line}", flush=True))
        except StackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"==> BBX stack ({running.executor} executor) at {running.api_url} — sign in as {ADMIN_USER} / "
              f"{running.password}; logs in {state_dir / 'logs'}; make stop stops it")
        return 0
    pids = read_pids(state_dir)
    if args.action == "status":
        if not pids:
            print(f"no stack in {state_dir}")
            return 1
        for name, pid in pids.items():
            members = _session_members(pid)
            print(f"{name:<14} session {pid:<8} {'running' if members else 'gone':<8} {len(members)} processes")
        return 0
    if not pids:
        print(f"nothing to stop (no pid files in {state_dir})")
        return 0
    print(f"==> stopping the BBX stack in {state_dir}")
    running = Stack.load(state_dir)
    stop(state_dir)
    if running is not None and "host=" in running.bbx_url:
        _stop_embedded_postgresql(running.bbx_url)
    return 0


def _stop_embedded_postgresql(url: str) -> None:
    """The embedded PostgreSQL (pgserver) outlives its processes by design; the stack's
    ``stop`` ends it too when the stack ran on it."""
    from urllib.parse import parse_qs, urlsplit

    socket_dir = parse_qs(urlsplit(url).query).get("host", [""])[0]
    data_dir = settings.DATA_DIR / "pg"
    if socket_dir and (data_dir / "postmaster.pid").exists():
        import pgserver

        pgserver.get_server(data_dir, cleanup_mode="stop").cleanup()
        print(f"    stopped the embedded PostgreSQL ({data_dir})", flush=True)
