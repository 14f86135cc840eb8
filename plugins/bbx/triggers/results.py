"""``BerichtenboxResultsTrigger`` — wait for delivery results in the triggerer.

The providers' deferrable pattern (the sftp provider's ``SFTPTrigger``): the cheap
"is there anything yet?" poll runs in the triggerer; a worker is woken only to do the
work. Each poll asks

* BBX's database whether the submissions waited for are still open (a parallel
  ``bbx_collect_results`` run may have closed them), and
* the ebMS adapter of each connection whether ``GLOBE-R-BV-Result`` messages wait
  (``getUnprocessedMessageIds``, one id is enough) — and the sandbox endpoint, speaking
  for each connection in ``sandbox_connections`` (``[code, cpa_id, oin]``), for sandbox
  submissions,

backing off 1 s, 2 s, 4 s, ... up to ``poll_interval``. It fires once with ``status``:

* ``closed`` — nothing open any more (the worker makes its last pass and succeeds);
* ``results`` — messages wait at the adapter (the worker collects them and defers again);
* ``timeout`` — ``deadline`` passed with submissions still open (the task fails, no retry);
* ``error`` — the adapter refused the poll or the connection is misconfigured (permanent:
  the task fails with the reason). An unreachable adapter is transient: polling goes on.

The blocking calls (the hook's zeep/mTLS client, psycopg) run in a thread via
``sync_to_async``, as providers do for sync hooks, so the triggerer's event loop never
blocks; the protocol stays in the hook and the SQL in ``bbx.store``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

CLASSPATH = "bbx.triggers.results.BerichtenboxResultsTrigger"


class BerichtenboxResultsTrigger(BaseTrigger):
    def __init__(self, *, submission_ids: list[int], connection_codes: list[str], deadline: str,
                 poll_interval: float = 30.0, first_wait: float = 1.0,
                 sandbox_connections: list[list[str]] | None = None) -> None:
        super().__init__()
        self.submission_ids = [int(s) for s in submission_ids]
        self.connection_codes = sorted(set(connection_codes))
        self.sandbox_connections = sorted({tuple(t) for t in sandbox_connections or ()})
        self.deadline = deadline
        self.poll_interval = float(poll_interval)
        self.first_wait = float(first_wait)
        self._hooks = None  # bbx.delivery.send.Hooks, made in the poll thread on first use

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {
            "submission_ids": self.submission_ids, "connection_codes": self.connection_codes,
            "deadline": self.deadline, "poll_interval": self.poll_interval, "first_wait": self.first_wait,
            "sandbox_connections": [list(t) for t in self.sandbox_connections],
        }

    # blocking parts, run in a thread ---------------------------------------------------
    def _open_ids(self) -> list[int]:
        from bbx.delivery.results import open_submissions

        return [int(r["id"]) for r in open_submissions(self.submission_ids)]

    def _results_waiting(self, code: str, sandbox: tuple[str, str] | None = None) -> bool:
        """One poll on the connection's hook (or, with ``sandbox`` = (cpa_id, oin), the
        sandbox's), kept for the whole wait (its zeep client and TLS session are made once,
        not per poll); after a failed poll it is made anew, so a changed Connection or
        certificate is picked up."""
        from bbx.delivery.send import Hooks
        from bbx.domain.delivery import Route
        from bbx.hooks.berichtenbox import ACTION_DELIVERY_RESULT

        if self._hooks is None:
            self._hooks = Hooks()
        route = Route(code) if sandbox is None else Route(code, sandbox=True, cpa_id=sandbox[0], oin=sandbox[1])
        hook = self._hooks.route(route)
        try:
            return bool(hook.unprocessed_message_ids(action=ACTION_DELIVERY_RESULT, max_nr=1))
        except Exception:
            self._hooks.forget(code, sandbox=route.sandbox)
            raise

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        from bbx.hooks.berichtenbox import is_transient

        deadline = datetime.fromisoformat(self.deadline)
        wait = self.first_wait
        polls = 0
        while True:
            polls += 1
            open_ids = await sync_to_async(self._open_ids)()
            if not open_ids:
                yield TriggerEvent({"status": "closed", "polls": polls})
                return
            targets = [(code, None) for code in self.connection_codes]
            targets += [(code, (cpa_id, oin)) for code, cpa_id, oin in self.sandbox_connections]
            for code, sandbox in targets:
                try:
                    waiting = await sync_to_async(self._results_waiting)(code, sandbox)
                except Exception as exc:  # classified by the hook
                    if not is_transient(exc):
                        yield TriggerEvent({"status": "error", "polls": polls, "connection": code,
                                            "message": f"{type(exc).__name__}: {exc}"})
                        return
                    self.log.warning("connection %s: %s; polling on", code, exc)
                    continue
                if waiting:
                    yield TriggerEvent({"status": "results", "polls": polls, "connection": code,
                                        "open": open_ids})
                    return
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            if remaining <= 0:
                yield TriggerEvent({"status": "timeout", "polls": polls, "open": open_ids})
                return
            await asyncio.sleep(min(wait, remaining))
            wait = min(wait * 2, self.poll_interval)
