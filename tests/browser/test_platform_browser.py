"""The real platform in a browser: the stack of ``make demo`` (``bbx.stack``: simulator,
SFTP server, Airflow api-server, scheduler, dag-processor, triggerer) on free ports and
databases of its own. Headless Chromium signs in to Airflow, sends a message to 10 BSNs
on BBX's page, sees it delivered on the lookup page — delivered by the scheduler, at
once, because the page announced it (asset event) — and finds the run in the grid. The
register ran over two simulated days first (as in ``make demo``): a citizen who signed
off today shows the end of the subscription on the lookup page.
Prints accepted → closed; screenshots in ``test-artifacts/``."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from bbx.store import db
from bbx.store.db import sibling_url

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VOORBEELD_OIN = "00000001001234567000"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                     "(apt-get install chromium; scripts/ensure-chromium.sh)"),
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A whole stack, started and stopped by this test (nothing left running)."""
    import os

    from bbx import settings, stack
    from bbx.config.model import load
    from bbx.store import administration, migrations

    work = tmp_path_factory.mktemp("platform")
    base = settings.database_url()
    prefix = f"{os.environ.get('BBX_TEST_DB_PREFIX', '')}bbx_test_platform"
    bbx_url = sibling_url(base, f"{prefix}_{os.getpid()}")
    airflow_url = sibling_url(base, f"{prefix}_af_{os.getpid()}")
    for url in (bbx_url, airflow_url):
        db.drop_database(url)
    db.ensure_database(bbx_url)
    migrations.migrate(bbx_url)
    config_file = settings.PROJECT_ROOT / "config" / "sample" / "tenants.yaml"
    with db.transaction(bbx_url) as conn:
        administration.apply_config(conn, load(config_file), actor="test")
    key_file = work / "content.key"  # the stack's own (extra_env); this process keeps its key
    from bbx import crypto

    saved = os.environ.get("BBX_KEY_FILE")
    os.environ["BBX_KEY_FILE"] = str(key_file)
    try:
        crypto.create_key_file()
    finally:
        if saved is None:
            os.environ.pop("BBX_KEY_FILE", None)
        else:
            os.environ["BBX_KEY_FILE"] = saved
    s = stack.StackSettings.default(
        bbx_url=bbx_url, airflow_url=airflow_url, state_dir=work / "stack", airflow_home=work / "airflow_home",
        api_port=stack.free_port(), tenants_file=config_file, population_size=2000, result_delay=0.2,
        paused_at_creation=True,
        register_delay=0.2, extra_env={"BBX_REGISTER_POKE_SECONDS": "1", "BBX_RESULT_POLL_SECONDS": "1",
                                       "BBX_HOOK_BACKOFF": "0.2", "BBX_KEY_FILE": str(key_file)})
    try:
        running = stack.start(s, say=lambda line: print(line, flush=True))
        api = running.api()
        api.wait_for_dags(["bbx_register_refresh", "bbx_deliver"], timeout=240, keep_paused=("bbx_register_refresh",))
        # the demo's register: yesterday's full list, then today's sign-ups and sign-offs
        from bbx import demo

        demo.register_days(running, api, bbx_url, 2, connections=3)
        yield running, api, bbx_url
    finally:
        stack.stop(s.state_dir, quiet=True)
        left = [pid for sid in stack.read_pids(s.state_dir).values() for pid in stack._session_members(sid)]
        for url in (bbx_url, airflow_url):
            db.drop_database(url)
        assert left == []


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")  # English labels
        yield context.new_page()
        context.close()
        browser.close()


@pytest.mark.timeout(900)
def test_send_on_the_bbx_page_is_delivered_by_the_scheduler_and_shown(platform, page):
    from bbx import demo

    running, api, bbx_url = platform
    ARTIFACTS.mkdir(exist_ok=True)
    admin = running.admin()
    targets = admin.sample(VOORBEELD_OIN, status="active", limit=10)
    admin.close()
    assert len(targets) == 10

    # Airflow's own sign-in (simple auth manager), as an operator
    page.goto(f"{running.api_url}/")
    page.wait_for_url(re.compile(r".*/login.*"), timeout=60_000)
    page.get_by_label(re.compile("username", re.I)).fill("admin")
    page.get_by_label(re.compile("password", re.I)).fill(running.password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^(?!.*login).*$"), timeout=60_000)

    # BBX's page inside the same api-server: signed in to Airflow = a BBX operator there
    page.goto(f"{running.api_url}/bbx/send")
    page.get_by_label("Message type").select_option("voorbeeld/PASPRT")
    page.get_by_label("BSNs").fill("\n".join(targets))
    page.get_by_role("button", name="Send", exact=True).click()
    page.locator("#done").wait_for()
    accepted = time.monotonic()
    submission_id = int(re.search(r"Submission (\d+) accepted", page.locator("#done h2").inner_text()).group(1))

    # nobody triggers anything: the page's asset event starts bbx_deliver
    closed = None
    with db.connect(bbx_url) as conn:
        while time.monotonic() - accepted < 240:
            row = conn.execute("SELECT status FROM submissions WHERE id = %s", (submission_id,)).fetchone()
            conn.commit()
            if row["status"] == "closed":
                closed = time.monotonic() - accepted
                break
            time.sleep(0.5)
        outcomes = conn.execute("SELECT outcome, count(*) AS n FROM messages WHERE submission_id = %s "
                                "GROUP BY outcome", (submission_id,)).fetchall()
    assert closed is not None, f"submission {submission_id} not closed; outcomes {outcomes}"
    print(f"\n10-BSN manual send: accepted → closed in {closed:.1f} s (target <= 30 s)")
    assert outcomes == [{"outcome": "delivered", "n": 10}]
    runs = [r for r in api.runs("bbx_deliver", limit=20) if r["run_type"] == "asset_triggered"]
    assert runs, "bbx_deliver was not started by an asset event"

    page.get_by_role("link", name="BSN lookup").click()
    page.locator("#bsn").fill(targets[0])
    page.get_by_role("button", name="Look up").click()
    result = page.locator("#result")
    result.wait_for()
    cells = result.locator("table.messages tbody tr").first.locator("td").all_inner_texts()
    assert cells[1].startswith(f"{submission_id} (manual)") and cells[4].startswith("delivered"), cells
    page.screenshot(path=str(ARTIFACTS / "platform-lookup-delivered.png"), full_page=True)

    # a citizen who signed off today (the second simulated day): the lookup page shows the end
    with db.connect(bbx_url) as conn:
        gone = conn.execute(
            """SELECT p.bsn, p.begin_date, p.end_date FROM register_periods p
               JOIN connections c ON c.id = p.connection_id
               WHERE c.code = 'voorbeeld' AND p.end_date = %s LIMIT 1""", (demo.last_register_day(),)).fetchone()
    assert gone is not None, "no sign-off on the second simulated day"
    page.locator("#bsn").fill(gone["bsn"])
    page.get_by_role("button", name="Look up").click()
    page.locator("#result").wait_for()
    text = page.locator("#result").inner_text()
    assert "Not subscribed today" in text and str(gone["end_date"]) in text, text
    page.screenshot(path=str(ARTIFACTS / "platform-lookup-signed-off.png"), full_page=True)

    # the run in Airflow's grid
    run_id = runs[0]["dag_run_id"]
    page.goto(f"{running.api_url}/dags/bbx_deliver/runs/{run_id}")
    page.get_by_text(run_id).first.wait_for(timeout=60_000)
    page.goto(f"{running.api_url}/dags/bbx_deliver")  # the DAG page: the grid of its runs
    page.get_by_text("bbx_deliver").first.wait_for(timeout=60_000)
    page.locator(f'a[href*="/dags/bbx_deliver/runs/{run_id}"]').first.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "platform-grid.png"), full_page=True)
