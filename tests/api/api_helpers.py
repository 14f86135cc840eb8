"""Fixtures and helpers of the web-service, page and browser tests: the sample
configuration in a fresh BBX database, API keys for two tenants and an operator, the
real FastAPI app (TestClient), and helpers to put register periods and delivery
outcomes in place. ``tests/api/conftest.py`` and ``tests/browser/conftest.py`` import
the fixtures from here."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient

from bbx.config.model import load
from bbx.domain import bsn as bsn_rules
from bbx.store import administration, api_keys

TENANT_A = "gemeente-voorbeeld"  # connection voorbeeld: PASPRT (standard text + 2 PDFs), WOZ2026 (no text)
TENANT_B = "pensioenuitvoerder"  # connections pf_metaal, pf_zorg


@dataclass
class Keys:
    a: str
    b: str
    operator: str
    a_prefix: str


@pytest.fixture
def configured(db, sample_config_path):
    """The sample configuration applied and committed (the app uses its own connections)."""
    administration.apply_config(db, load(sample_config_path), actor="test")
    db.commit()
    return db


@pytest.fixture
def keys(configured) -> Keys:
    db = configured
    a = api_keys.create_key(db, tenant_code=TENANT_A, operator=False, name="A system", created_by="test")
    b = api_keys.create_key(db, tenant_code=TENANT_B, operator=False, name="B system", created_by="test")
    op = api_keys.create_key(db, tenant_code=None, operator=True, name="ops", created_by="test")
    db.commit()
    return Keys(a.key, b.key, op.key, a.owner.prefix)


@pytest.fixture
def app(database_url):
    from bbx.api.app import create_app

    return create_app()


@pytest.fixture
def client(app):
    """A client that asks for English (``Accept-Language: en``): the wording these tests
    pin is the English of the message ids. Dutch, the default, and how the language is
    chosen are tested in tests/api/test_language.py (fixture ``client_nl``)."""
    with TestClient(app, base_url="http://testserver", headers={"Accept-Language": "en"}) as c:
        yield c


@pytest.fixture
def client_nl(app):
    """A client that names no language: it gets Dutch, the default."""
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def bsns(count: int, seed: int = 7) -> list[str]:
    return list(bsn_rules.generate(count, seed=seed))


def send(client, key: str, connection: str = "voorbeeld", *, idem: str | None = None, lang: str | None = None,
         **body):
    body.setdefault("message_type", "PASPRT")
    body.setdefault("bsns", bsns(3))
    headers = {**auth(key), "Idempotency-Key": idem or str(uuid.uuid4())}
    if lang:
        headers["Accept-Language"] = lang
    return client.post(f"/api/v1/connections/{connection}/messages", json=body, headers=headers)


def connection_id(db, code: str) -> int:
    return db.execute("SELECT id FROM connections WHERE code = %s", (code,)).fetchone()["id"]


def seed_register(db, connection_code: str, periods: list[tuple[str, date, date | None]]) -> None:
    """Put register periods in place as an applied full refresh would (test data)."""
    cid = connection_id(db, connection_code)
    refresh = db.execute(
        """INSERT INTO register_refreshes (connection_id, logical_date, kind, request_id, status,
                                           snapshot_at, entries, opened, closed, applied_at)
           VALUES (%s, %s, 'full', %s, 'applied', now(), %s, %s, 0, now()) RETURNING id""",
        (cid, date(2026, 1, 1), str(uuid.uuid4()), len(periods), len(periods)),
    ).fetchone()["id"]
    for bsn, begin, end in periods:
        db.execute(
            """INSERT INTO register_periods (connection_id, bsn, begin_date, end_date, opened_by_refresh,
                                             closed_by_refresh) VALUES (%s, %s, %s, %s, %s, %s)""",
            (cid, bsn, begin, end, refresh, refresh if end else None),
        )
    db.commit()


def set_outcomes(db, submission_id: int, outcomes: dict[int, tuple[str, str | None, str | None]]) -> None:
    """Give rows final outcomes as delivery would: {row_number: (outcome, code, reason)}.

    Sent outcomes (delivered/failed) go through a batch, as the schema requires."""
    sub = db.execute("SELECT connection_id FROM submissions WHERE id = %s", (submission_id,)).fetchone()
    batch = str(uuid.uuid4())
    db.execute(
        """INSERT INTO batches (id, connection_id, submission_id, batch_number, message_count, status, sent_at,
                               first_row, last_row)
           VALUES (%s, %s, %s, (SELECT coalesce(max(batch_number), 0) + 1 FROM batches WHERE submission_id = %s),
                   %s, 'sent', now(), %s, %s)""",
        (batch, sub["connection_id"], submission_id, submission_id, max(len(outcomes), 1),
         min(outcomes, default=1), max(outcomes, default=1)),
    )
    for row, (outcome, code, reason) in outcomes.items():
        if outcome in ("delivered", "failed", "sent"):
            db.execute(
                "UPDATE messages SET outcome = 'queued', batch_id = %s WHERE submission_id = %s AND row_number = %s",
                (batch, submission_id, row),
            )
            db.execute(
                "UPDATE messages SET outcome = 'sent', sent_at = now() WHERE submission_id = %s AND row_number = %s",
                (submission_id, row),
            )
        if outcome != "sent":
            db.execute(
                """UPDATE messages SET outcome = %s, outcome_code = %s, outcome_reason = %s, final_at = now()
                   WHERE submission_id = %s AND row_number = %s""",
                (outcome, code, reason, submission_id, row),
            )
    db.commit()


def make_pdf(text: str = "Persoonlijke brief", pages: int = 1, padding: int = 0) -> bytes:
    """A real PDF with text (fpdf2); ``padding`` adds bytes (an incompressible image-like blob)."""
    from fpdf import FPDF

    pdf = FPDF()
    for i in range(pages):
        pdf.add_page()
        pdf.set_font("helvetica", size=14)
        pdf.cell(0, 10, f"{text} ({i + 1})")
    data = bytes(pdf.output())
    if padding:
        import os

        # Keep it a valid PDF: append a comment block after %%EOF (readers ignore it).
        data += b"\n%" + os.urandom(padding).hex().encode()[:padding] + b"\n"
    return data


def upload(name: str, content: bytes):
    return ("attachments", (name, io.BytesIO(content), "application/pdf"))


# --------------------------------------------------------------------------- pages


PASSWORD = "correct horse battery staple"


def person(key: str) -> str:
    """The person (a BBX account) of the same role and tenant as ``key``, made once:
    people sign in to the pages with an account, not with a system's key (issue 14)."""
    from bbx.store import db, users

    with db.transaction() as conn:
        owner = api_keys.authenticate(conn, key)
        assert owner is not None, "sign_in needs a valid key to find the role and tenant"
        name = f"{owner.role}-{owner.tenant_code or 'all'}"
        if users.get(conn, name) is None:
            users.add(conn, username=name, password=PASSWORD, role=owner.role, tenant_code=owner.tenant_code,
                      full_name=f"Test {owner.role}", created_by="test")
    return name


def sign_in_as(client, username: str, password: str = PASSWORD, next: str = "/send"):
    response = client.post("/login", data={"username": username, "password": password, "next": next},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == next, response.text
    cookie = response.headers["set-cookie"]
    assert "bbx_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    return response


def sign_in(client, key: str) -> str:
    """Sign in as the person of ``key``'s role and tenant (see :func:`person`); their name."""
    name = person(key)
    sign_in_as(client, name)
    return name


def token(html: str) -> str:
    return re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)


def form(client, **fields):
    page = client.get("/send")
    data = {"token": token(page.text), "action": "send", "text": "", "reference": "", **fields}
    return data


@contextlib.contextmanager
def airflow_api_server(settings: dict[str, str], tmp_path, *, start_timeout: float):
    """A real ``airflow api-server`` on a free port with these settings on top of the test
    environment; yields its base URL, and stops its whole session afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    # unbuffered: the log shows at once when the server has finished (_stop_api_server)
    env = {**os.environ, **settings, "AIRFLOW__API__BASE_URL": base, "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "api-server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"airflow api-server exited:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"airflow api-server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        _stop_api_server(proc, log_path)
        log.close()


def _stop_api_server(proc: subprocess.Popen, log_path) -> None:
    """SIGTERM, and once uvicorn says it has finished, SIGKILL: what is left is the
    interpreter's exit (its last garbage collection of all of Airflow, ~10 s at load),
    which no test needs to wait for."""
    os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while proc.poll() is None and time.monotonic() < deadline:
        if "Finished server process" in log_path.read_text(errors="replace"):
            break
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
