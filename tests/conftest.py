"""One place that sets up the test environment (Airflow home, databases, keys).

Real parts: PostgreSQL is the server on 127.0.0.1:5432 (or BBX_TEST_SERVER_URL, or an
embedded pgserver when neither is there). Each test session makes its own databases,
named with the process id (after ``BBX_TEST_DB_PREFIX``, for runs that share a server), and
drops them at the end:
- ``bbx_t<pid>_tpl``  BBX's schema, migrated once; a template for fresh copies;
- ``bbx_t<pid>_af``   Airflow's metadata database, for DAG tests (migrated on demand).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_LOGIUS = PROJECT_ROOT.parent / "shared" / "reference" / "logius"
# BBX_TEST_DB_PREFIX (e.g. ``alice_``): two people's runs on one server keep apart by name
_RUN = f"{os.environ.get('BBX_TEST_DB_PREFIX', '')}bbx_t{os.getpid()}"
_TMP = Path(tempfile.mkdtemp(prefix=f"{_RUN}_"))


def _server_url() -> str:
    if url := os.environ.get("BBX_TEST_SERVER_URL"):
        return url
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    except OSError:
        from bbx.settings import embedded_server_url

        return embedded_server_url("postgres")


def _with_db(url: str, name: str) -> str:
    from bbx.store.db import sibling_url

    return sibling_url(url, name)


SERVER_URL = _server_url()
TEMPLATE_URL = _with_db(SERVER_URL, f"{_RUN}_tpl")
AIRFLOW_DB_URL = _with_db(SERVER_URL, f"{_RUN}_af")

# Airflow reads its configuration at import: set it before anything imports airflow.
os.environ.update(
    {
        "AIRFLOW_HOME": str(_TMP / "airflow_home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": AIRFLOW_DB_URL.replace("postgresql://", "postgresql+psycopg2://", 1),
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        "BBX_DATABASE_URL": TEMPLATE_URL,
        "BBX_DATA_DIR": str(_TMP / "data"),
        "BBX_KEY_FILE": str(_TMP / "keys" / "content.key"),
        # dag.test() cannot finish runs of DAGs with Deadline Alerts (bbx/deadlines.py);
        # tests/delivery/test_delivery_alerts.py turns them on to check them
        "BBX_DEADLINE_ALERTS": "0",
    }
)


# What makes a test slow, said once: it runs a real Airflow (Airflow's metadata database),
# drives a browser, or kills real processes. `pytest -m "not slow"` leaves these out.
_SLOW_FIXTURES = {"airflow_db"}
_SLOW_MODULES = {"test_delivery_crash.py", "test_register_crash.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if (_SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
                or item.get_closest_marker("browser") or item.path.name in _SLOW_MODULES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def english():
    """Texts in English, the message ids, for tests that pin the wording; Dutch, the
    default, is tested in tests/unit/test_i18n.py and the *_language tests."""
    from bbx.i18n import language

    with language("en"):
        yield


@pytest.fixture(scope="session")
def shared_logius() -> Path:
    """Logius's official schemas and examples (../shared/reference/logius)."""
    if not SHARED_LOGIUS.is_dir():
        # a missing yardstick is a broken set-up, not a reason to test less
        pytest.fail(f"official Logius files not found at {SHARED_LOGIUS} (shared/ must lie beside the project)")
    return SHARED_LOGIUS


@pytest.fixture(scope="session")
def content_key() -> Path:
    from bbx import crypto, settings

    crypto.create_key_file()
    return settings.encryption_key_file()


class _Dropper:
    """Drops the tests' used databases in a thread of its own. ``DROP DATABASE`` makes
    PostgreSQL checkpoint at once, which takes seconds on a busy server, longer than most
    tests; no test needs to wait for it (each copy has a name of its own). What piled up
    meanwhile is dropped together, at once: concurrent drops share their checkpoints
    (8 drops: ~25 s one by one, 2-6 s together). The session waits for the last drop and
    fails on any that did not succeed."""

    def __init__(self):
        self.pending: queue.Queue[str | None] = queue.Queue()
        self.failed: list[str] = []
        self.thread = threading.Thread(target=self._run, name="drop-test-databases", daemon=True)
        self.thread.start()

    def _drop(self, url: str) -> None:
        from bbx.store import db

        try:
            db.drop_database(url)
        except Exception as exc:  # noqa: BLE001 - reported at the end of the session
            self.failed.append(f"{url}: {exc!r}")

    def _run(self) -> None:
        done = False
        while not done:
            batch = [self.pending.get()]
            while not self.pending.empty() and len(batch) < 8:  # a few connections of the server's
                batch.append(self.pending.get())
            done = None in batch
            drops = [threading.Thread(target=self._drop, args=(url,)) for url in batch if url is not None]
            for t in drops:
                t.start()
            for t in drops:
                t.join()

    def finish(self) -> list[str]:
        self.pending.put(None)
        self.thread.join()
        return self.failed


@pytest.fixture(scope="session")
def _dropper():
    dropper = _Dropper()
    yield dropper
    failed = dropper.finish()
    assert not failed, f"test databases not dropped: {failed}"


@pytest.fixture(scope="session")
def migrated_template(_dropper) -> str:
    """BBX's database, migrated once per session; copied for each test that needs one."""
    from bbx.store import db, migrations

    db.drop_database(TEMPLATE_URL)
    db.ensure_database(TEMPLATE_URL)
    migrations.migrate(TEMPLATE_URL)
    yield TEMPLATE_URL
    _dropper.pending.put(TEMPLATE_URL)


_copies = 0


def _fresh_copy(monkeypatch, dropper: _Dropper):
    """A copy of the template as BBX's database (in the environment while it is used), dropped after."""
    import psycopg

    from bbx import settings

    global _copies
    _copies += 1
    name = f"{_RUN}_{_copies}"
    url = _with_db(SERVER_URL, name)
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_RUN}_tpl"')
    monkeypatch.setenv("BBX_DATABASE_URL", url)
    monkeypatch.setenv("AIRFLOW_CONN_BBX_DB", url)
    settings.database_url.cache_clear()
    yield url
    settings.database_url.cache_clear()
    dropper.pending.put(url)


@pytest.fixture
def database_url(migrated_template, monkeypatch, content_key, _dropper) -> str:
    """A fresh, migrated BBX database for one test (a copy of the template), dropped after."""
    yield from _fresh_copy(monkeypatch, _dropper)


@pytest.fixture(scope="module")
def module_database_url(migrated_template, content_key, _dropper) -> str:
    """The same for a module whose tests share one expensive fixture (a real api-server)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _fresh_copy(monkeypatch, _dropper)


@pytest.fixture
def db(database_url):
    """A connection (autocommit off, dict rows, search_path bbx) to a fresh database."""
    from bbx.store import db as store_db

    with store_db.connect(database_url) as conn:
        yield conn


@pytest.fixture(scope="session")
def airflow_db(_dropper):
    """Airflow's metadata database, created and migrated once per session (for dag.test)."""
    from bbx.store import db

    db.drop_database(AIRFLOW_DB_URL)
    db.ensure_database(AIRFLOW_DB_URL)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    yield AIRFLOW_DB_URL
    _dropper.pending.put(AIRFLOW_DB_URL)


@pytest.fixture
def sample_config_path() -> Path:
    return PROJECT_ROOT / "config" / "sample" / "tenants.yaml"
