"""A short race in a real browser: upload a table, start a race of two strategies, see both curves.

Reuses the main journey's helpers (free port, health wait, Chromium, the generated loan table).
Screenshots go to ``artifacts/screenshots/race-*.png``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_journey import CHROMIUM, CHROMIUM_ARGS, _free_port, _wait_healthy, make_table

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
TIMEOUT_MS = 60_000


def _kill_started(home: Path) -> None:
    """The race process and its workers live in their own sessions: end the ones we started."""
    pids: list[int] = []
    for path in home.glob("races/*.json"):
        pid = json.loads(path.read_text()).get("pid")
        if pid:
            pids.append(int(pid))
    pids += [int(p.read_text()) for p in home.glob("races/*.pid")]
    for path in home.glob("studies/*/workers.txt"):
        pids += [int(p.split()[1]) for p in path.read_text().splitlines() if len(p.split()) == 3]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    port = _free_port()
    env = dict(os.environ, KNOBS_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()
        _kill_started(tmp_path / "home")
        server_log = (tmp_path / "streamlit.log").read_text(errors="replace")
        assert "Traceback" not in server_log, server_log[-4000:]


def _shot(page, name: str) -> None:  # noqa: ANN001 - playwright Page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"race-{name}.png"), full_page=True)


def _no_traceback(page) -> None:  # noqa: ANN001
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.locator("body").inner_text()


def _set_number(page, label: str, value: int) -> None:  # noqa: ANN001
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")


def test_race_journey(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    csv = tmp_path / "loan_decisions.csv"
    make_table(csv, n=600)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.set_default_timeout(TIMEOUT_MS)
        try:
            page.goto(server)
            expect(page.get_by_text("Working on churn.csv")).to_be_visible()
            page.locator('input[type="file"]').set_input_files(str(csv))
            expect(page.get_by_text("Working on loan_decisions.csv")).to_be_visible()
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Target column")
            box.click()
            page.get_by_role("option", name="decision", exact=True).click()
            expect(page.get_by_text(re.compile(r"Ready: binary classification"))).to_be_visible()

            # The race page reuses this session's table and target (sidebar navigation).
            page.get_by_role("link", name="Strategy race").click()
            expect(page.get_by_role("heading", name="Strategy race")).to_be_visible()
            expect(page.get_by_text(re.compile(r"Racing on .*loan_decisions.csv"))).to_be_visible()
            contestants = page.locator('[data-testid="stMultiSelect"]').filter(
                has_text="Contestants"
            )
            contestants.get_by_role("button", name=re.compile("Remove.*Grid")).click()
            expect(contestants.get_by_text("Grid", exact=True)).to_have_count(0)
            _set_number(page, "Trials per run", 5)
            _set_number(page, "Seeds", 2)
            _set_number(page, "Runs at once", 2)
            _set_number(page, "CV folds", 2)
            _no_traceback(page)
            _shot(page, "01-form")
            page.get_by_role("button", name="Start the race").click()

            page.wait_for_url(re.compile(r"race=[A-Za-z0-9]+"))
            page.locator(".js-plotly-plot").first.wait_for()
            _shot(page, "02-running")
            deadline = time.monotonic() + 180
            progress = page.locator('[data-testid="stProgress"]').first
            while "Finished" not in progress.inner_text() and time.monotonic() < deadline:
                time.sleep(1)
            expect(progress).to_contain_text("Finished: 4 of 4 runs done")
            first = page.locator(".js-plotly-plot").first
            expect(first).to_contain_text("TPE")  # both strategies' curves, in the legend
            expect(first).to_contain_text("Random")
            expect(first).to_contain_text("defaults")
            expect(page.get_by_text("Verdict.")).to_be_visible()
            expect(page.get_by_role("button", name="Results table (CSV)")).to_be_visible()
            _no_traceback(page)
            _shot(page, "03-finished")
        finally:
            browser.close()
