"""What every web-service response must satisfy under fuzzing (shared by the bounded
run in ``make test`` and the longer run ``bench/fuzz_api.py``)."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field

_BSN_LIKE = re.compile(r"(?<!\d)\d{9}(?!\d)")


@dataclass
class World:
    """What the fuzzer knows: another tenant's BSNs and connections (must never show) and
    real path values (own and foreign) to get requests past the 404."""

    foreign_bsns: set[str]
    foreign_codes: set[str]
    path_values: dict[str, list] = field(default_factory=dict)


def make_world(client, key_a: str, key_b: str) -> World:
    """Tenant A (key_a, connection voorbeeld) and tenant B each hand in a submission."""
    from bbx.domain import bsn as bsn_rules

    def send(key, connection, message_type, bsns, text=None):
        body = {"message_type": message_type, "bsns": bsns, **({"text": text} if text else {})}
        response = client.post(f"/api/v1/connections/{connection}/messages", json=body,
                               headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    people = list(bsn_rules.generate(8, seed=991))
    own = send(key_a, "voorbeeld", "PASPRT", people[:3])
    connections = client.get("/api/v1/connections", headers={"Authorization": f"Bearer {key_b}"}).json()["connections"]
    first = connections[0]
    foreign = send(key_b, first["code"], first["message_types"][0]["code"], people[3:], text="Brief voor B")
    codes = {c["code"] for c in connections}
    return World(set(people[3:]), codes, {"connection": ["voorbeeld", *sorted(codes)],
                                          "submission_id": [own, foreign]})


def problems(response, *, foreign_bsns: set[str], foreign_codes: set[str]) -> list[str]:
    """Everything wrong with one response (empty: fine)."""
    found = []
    status = response.status_code
    text = response.text
    if status >= 500:
        found.append(f"server error {status}: {text[:300]}")
    if 400 <= status < 500:
        try:
            error = json.loads(text).get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        if not (isinstance(error, dict) and isinstance(error.get("code"), str) and error.get("code")
                and isinstance(error.get("message"), str) and error.get("message")):
            found.append(f"{status} without BBX's error body: {text[:300]}")
    leaked = set(_BSN_LIKE.findall(text)) & foreign_bsns
    if leaked:
        found.append(f"another tenant's BSN in the response ({len(leaked)})")
    for code in foreign_codes:
        if re.search(rf'"{re.escape(code)}"', text):
            found.append(f"another tenant's connection {code!r} in the response")
    return found


def run(app, world: World, *, headers: dict, cases_per_operation: int, seed: int | None = None,
        modes=("positive", "negative"), on_case=None) -> tuple[int, list[str]]:
    """Fuzz every operation of the app's OpenAPI description; returns (cases run, findings).

    ``seed`` None: derandomized (the same cases every run, as in ``make test``). In two of
    three positive cases a path parameter gets a real value from ``world.path_values``."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    count = 0
    findings: list[str] = []
    seen: set[tuple[str, str]] = set()
    def check(case, mode: str, label: str) -> None:
        nonlocal count
        count += 1
        for name, values in world.path_values.items():
            if mode == "positive" and name in (case.path_parameters or {}) and count % 3:
                case.path_parameters[name] = values[count % len(values)]
        response = case.call(headers=headers)
        if on_case:
            on_case(case, response)
        for problem in problems(response, foreign_bsns=world.foreign_bsns, foreign_codes=world.foreign_codes):
            key = (label, problem[:40])
            if key not in seen:
                seen.add(key)
                findings.append(f"{case.method} {case.formatted_path} ({mode}): {problem}\n"
                                f"    reproduce: {case.as_curl_command()}")

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            fuzz = given(case=operation.as_strategy(generation_mode=GenerationMode(mode)), mode=st.just(mode),
                         label=st.just(operation.label))(check)
            fuzz = settings(max_examples=cases_per_operation, derandomize=seed is None, deadline=None,
                            database=None, suppress_health_check=list(HealthCheck),
                            phases=[Phase.explicit, Phase.generate])(fuzz)
            if seed is not None:
                fuzz = hypothesis_seed(seed)(fuzz)
            try:
                fuzz()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                pass
    return count, findings
