"""The admin API: inspection and control for tests and the demo (JSON over the same
mTLS port, under ``/admin``; any client certificate of the test root may use it).

==========  ==============================================  =======================================
method      path                                             what
==========  ==============================================  =======================================
GET         /admin/health                                    ``{"status": "ok"}``
GET         /admin/config                                    senders, delays, clock, faults
POST        /admin/settings                                  ``{"result_delay": s, "register_delay": s,
                                                             "result_dialect": "documented"|"live"}``
GET/POST    /admin/senders                                   list / add or replace a sender (config keys)
GET/DELETE  /admin/senders/{oin}                             one sender / remove it
PUT         /admin/senders/{oin}/result-dialect              ``{"dialect": "documented"|"live"|null}``
                                                             (null: the simulator's setting)
POST        /admin/senders/{oin}/subscriptions               ``{"bsns": [...], "from": date, "until": date|null}``
GET         /admin/senders/{oin}/subscriptions/{bsn}?day=    subscribed? since/until, next change
GET         /admin/senders/{oin}/sample?status=&day=&limit=  example BSNs: active|inactive|never
GET         /admin/senders/{oin}/changes?after=&until=       sign-ups and sign-offs in (after, until]
GET/PUT     /admin/clock                                     ``{"today": "YYYY-MM-DD" | null}``
GET/PUT     /admin/faults                                    fault settings (PUT: partial update)
POST        /admin/faults/reset                              no faults
GET         /admin/stats                                     counters (received, duplicates, codes…)
GET         /admin/berichten?limit=&offset=                  every BerichtID: count and outcomes
GET         /admin/berichten/{id}                            one BerichtID: count, outcomes, box
GET         /admin/duplicates                                BerichtIDs received more than once
GET         /admin/box/{bsn}                                 what the citizen's box holds
GET         /admin/batches?limit=                            batches received, with codes
GET         /admin/inbound                                   inbound ebMS messages (results, answers)
GET         /admin/register-requests                         GLOBE-R-A requests and their outcome
POST        /admin/reset                                     forget state; body flags ``faults``,
                                                             ``clock``, ``senders`` (default true,
                                                             true, false)
==========  ==============================================  =======================================

BSNs appear here in full: this is a test instrument with test data. They never go to
the log.
"""

from __future__ import annotations

import json
from datetime import date
from itertools import islice
from typing import Any
from urllib.parse import parse_qs

from simulator.app import Simulator
from simulator.config import ConfigError, SenderConfig, check_dialect, parse_date
from simulator.population import NO_END


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _iso(ordinal: int) -> str | None:
    return None if ordinal == NO_END else date.fromordinal(ordinal).isoformat()


class AdminApi:
    def __init__(self, simulator: Simulator) -> None:
        self.sim = simulator

    def handle(self, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
        """(HTTP status, JSON-able answer) for one admin request."""
        try:
            params = {k: v[-1] for k, v in parse_qs(query).items()}
            data = json.loads(body) if body.strip() else {}
            parts = [p for p in path.split("/") if p][1:]  # drop "admin"
            return 200, self._route(method, parts, params, data)
        except AdminError as exc:
            return exc.status, {"error": str(exc)}
        except (ConfigError, ValueError, KeyError, TypeError) as exc:
            return 400, {"error": f"{type(exc).__name__}: {exc}"}

    def _route(self, method: str, parts: list[str], params: dict[str, str], data: Any) -> Any:
        sim = self.sim
        match method, parts:
            case "GET", ["health"]:
                return {"status": "ok"}
            case "GET", ["config"]:
                return self._config()
            case "POST", ["settings"]:
                for name in ("result_delay", "register_delay"):
                    if name in data:
                        value = float(data[name])
                        if value < 0:
                            raise ValueError(f"{name} must not be negative")
                        setattr(sim.config, name, value)
                if "result_dialect" in data:
                    sim.config.result_dialect = check_dialect(data["result_dialect"], "settings")
                return self._config()
            case "GET", ["senders"]:
                return [s.to_dict() for s in sim.senders()]
            case "POST", ["senders"]:
                sender = SenderConfig.from_dict(data)
                sim.register_sender(sender)
                return sender.to_dict()
            case "GET", ["senders", oin]:
                return self._sender(oin).to_dict()
            case "PUT", ["senders", oin, "result-dialect"]:
                self._sender(oin)
                return sim.set_result_dialect(oin, data.get("dialect")).to_dict()
            case "DELETE", ["senders", oin]:
                if not sim.remove_sender(oin):
                    raise AdminError(404, f"no sender {oin}")
                return {"removed": oin}
            case "POST", ["senders", oin, "subscriptions"]:
                self._sender(oin)
                start = parse_date(data.get("from", sim.clock.today().isoformat()), "from")
                until = parse_date(data["until"], "until") if data.get("until") else None
                bsns = data.get("bsns")
                if not isinstance(bsns, list):
                    raise ValueError("'bsns' must be a list of BSN strings")
                count = sim.population(oin).subscribe([str(b) for b in bsns], start, until)
                return {"subscribed": count}
            case "GET", ["senders", oin, "subscriptions", bsn]:
                self._sender(oin)
                day = self._day(params)
                population = sim.population(oin)
                state = population.state(bsn, day)
                upcoming = population.next_change(bsn, day)
                return {
                    "bsn": bsn,
                    "day": day.isoformat(),
                    "active": state is not None and state[1] == NO_END,
                    "from": _iso(state[0]) if state else None,
                    "until": _iso(state[1]) if state else None,
                    "next_change": _iso(upcoming) if upcoming else None,
                }
            case "GET", ["senders", oin, "sample"]:
                self._sender(oin)
                limit = int(params.get("limit", 10))
                status = params.get("status", "active")
                return {"bsns": sim.population(oin).sample(self._day(params), status, limit)}
            case "GET", ["senders", oin, "changes"]:
                self._sender(oin)
                until = self._day(params, "until")
                after = (
                    parse_date(params["after"], "after")
                    if "after" in params
                    else date.fromordinal(until.toordinal() - 1)
                )
                signups, signoffs = [], []  # by the state on 'until'
                for bsn, _, end in sim.population(oin).changes(after, until):
                    (signups if end == NO_END else signoffs).append(bsn)
                return {
                    "after": after.isoformat(),
                    "until": until.isoformat(),
                    "signups": signups,
                    "signoffs": signoffs,
                }
            case "GET", ["clock"]:
                return self._clock()
            case "PUT", ["clock"]:
                today = data.get("today")
                sim.clock.set_today(parse_date(today, "today") if today else None)
                return self._clock()
            case "GET", ["faults"]:
                return sim.faults.snapshot()
            case "PUT", ["faults"]:
                return sim.faults.update(data)
            case "POST", ["faults", "reset"]:
                return sim.faults.reset()
            case "GET", ["stats"]:
                return sim.store.stats()
            case "GET", ["berichten"]:
                limit, offset = int(params.get("limit", 1000)), int(params.get("offset", 0))
                with sim.store.lock:
                    items = list(islice(sim.store.receipts(), offset, offset + limit))
                return {bid: {"count": len(codes), "outcomes": codes} for bid, codes in items}
            case "GET", ["berichten", bericht_id]:
                found = sim.store.bericht(bericht_id)
                if found is None:
                    raise AdminError(404, f"BerichtID {bericht_id} was never received")
                return found
            case "GET", ["duplicates"]:
                with sim.store.lock:
                    return {
                        bid: {"count": len(codes), "outcomes": list(codes)}
                        for bid, codes in sim.store.receipts()
                        if len(codes) > 1
                    }
            case "GET", ["box", bsn]:
                return {"bsn": bsn, "messages": [d.to_dict() for d in sim.store.box(bsn)]}
            case "GET", ["batches"]:
                limit = int(params.get("limit", 1000))
                with sim.store.lock:
                    return [b.to_dict() for b in sim.store.batches[-limit:]]
            case "GET", ["inbound"]:
                with sim.store.lock:
                    return [m.meta() for m in sim.store.inbound.values()]
            case "GET", ["register-requests"]:
                with sim.store.lock:
                    return [r.to_dict() for r in sim.store.register_requests]
            case "POST", ["reset"]:
                sim.reset(
                    faults=bool(data.get("faults", True)),
                    clock=bool(data.get("clock", True)),
                    senders=bool(data.get("senders", False)),
                )
                return {"reset": True}
        raise AdminError(404, f"no admin route {method} /admin/{'/'.join(parts)}")

    def _sender(self, oin: str) -> SenderConfig:
        sender = self.sim.sender(oin)
        if sender is None:
            raise AdminError(404, f"no sender {oin}")
        return sender

    def _day(self, params: dict[str, str], name: str = "day") -> date:
        return parse_date(params[name], name) if name in params else self.sim.clock.today()

    def _clock(self) -> dict[str, Any]:
        simulated = self.sim.clock.simulated
        return {
            "today": self.sim.clock.today().isoformat(),
            "simulated": simulated is not None,
            "now": self.sim.clock.now().isoformat(),
        }

    def _config(self) -> dict[str, Any]:
        config = self.sim.config
        return {
            "mijnoverheid_party_id": config.mijnoverheid_party_id,
            "result_delay": config.result_delay,
            "register_delay": config.register_delay,
            "result_dialect": config.result_dialect,
            "clock": self._clock(),
            "logius_dir": str(config.logius_dir),
            "schemas_dir": str(config.schemas_dir),
            "senders": [s.to_dict() for s in self.sim.senders()],
            "faults": self.sim.faults.snapshot(),
        }
