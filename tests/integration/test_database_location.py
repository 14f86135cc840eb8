"""Where BBX finds its database: an explicit URL, the local server, or an embedded
PostgreSQL (pgserver) for machines without one."""

import subprocess
import sys

from bbx import settings


def test_explicit_url_wins_and_sqlalchemy_style_urls_are_accepted(monkeypatch):
    monkeypatch.setenv("BBX_DATABASE_URL", "postgresql+psycopg2://u@db.example:5433/bbx")
    settings.database_url.cache_clear()
    try:
        assert settings.database_url() == "postgresql://u@db.example:5433/bbx"
    finally:
        settings.database_url.cache_clear()


def test_embedded_postgresql_is_created_migrated_and_reused(tmp_path_factory):
    """In a child process (settings are read once per process): BBX_DATABASE=embedded
    starts pgserver under BBX_DATA_DIR, creates the database and migrates it; a second
    process attaches to the same server and finds it up to date.

    As on a fresh clone: BBX_DATA_DIR and its parent do not exist yet, and the PATH is
    minimal (no /usr/sbin, where the `useradd` that pgserver runs as root lives)."""
    tmp_path = tmp_path_factory.mktemp("fresh") / "clone" / "data"
    script = (
        "from bbx import settings; from bbx.store import db, migrations\n"
        "url = settings.database_url(); assert 'host=' in url, url\n"
        "db.ensure_database(url); print(','.join(migrations.migrate(url)) or 'none')\n"
        "with db.connect(url) as c: print(c.execute('SELECT count(*) AS n FROM tenants').fetchone()['n'])\n"
    )
    env = {"BBX_DATABASE": "embedded", "BBX_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    try:
        first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        applied, tenants = first.stdout.split()
        assert applied.startswith("001_core.sql,") and tenants == "0"
        second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert second.stdout.split() == ["none", "0"]
    finally:
        # the embedded server outlives its processes by design; stop this test's one
        pg_ctl = next((tmp_path / "pg").parent.glob("**/postmaster.pid"), None)
        subprocess.run(
            [sys.executable, "-c", f"import pgserver; pgserver.get_server({str(tmp_path / 'pg')!r}, cleanup_mode='stop').cleanup()"],
            capture_output=True, timeout=60,
        )
        assert pg_ctl is None or not pg_ctl.exists()


def _child(script: str, env: dict) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": env.get("AIRFLOW_HOME", "/tmp")}
    return subprocess.run([sys.executable, "-c", script], env={**base, **env}, capture_output=True, text=True,
                          timeout=120)


def test_deployment_without_bbx_db_is_a_clear_error_never_a_fallback(tmp_path):
    """BBX_ENV=production (docker-compose.yaml): no bbx_db anywhere Airflow looks → the
    error says what to create; the local server on 127.0.0.1:5432 (which answers here)
    and the embedded one are not used."""
    script = ("from bbx import settings\n"
              "try:\n    print(settings.database_url())\n"
              "except settings.DatabaseNotConfigured as exc:\n    print('ERROR', exc); raise SystemExit(3)\n")
    run = _child(script, {"BBX_ENV": "production", "AIRFLOW_HOME": str(tmp_path), "BBX_DATA_DIR": str(tmp_path)})
    assert run.returncode == 3, run.stdout + run.stderr
    assert "BBX_ENV=production but Airflow has no connection 'bbx_db'" in run.stdout
    assert "bbx airflow setup" in run.stdout and "never falls back" in run.stdout
    assert not (tmp_path / "pg").exists()


def test_bbx_db_is_resolved_through_airflow(tmp_path):
    """The same deployment with bbx_db as Airflow knows it (here its environment variable;
    the metadata database and secrets backends go the same BaseHook.get_connection way)."""
    script = "from bbx import settings; print(settings.database_url())"
    run = _child(script, {"BBX_ENV": "production", "AIRFLOW_HOME": str(tmp_path),
                          "AIRFLOW_CONN_BBX_DB": "postgres://bbx:s3cret@db.internal:5433/bbx"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "postgresql://bbx:s3cret@db.internal:5433/bbx"

