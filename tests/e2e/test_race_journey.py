"""A short race in a real browser: upload a table, start a race of two strategies, see both curves.

Reuses the main journey's helpers (free port, health wait, Chromium, the generated loan table).
Screenshots go to ``artifacts/screenshots/race-*.png``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, running_app, shot, upload_table
from tests.e2e.browser import no_traceback as _no_traceback
from tests.e2e.browser import set_number as _set_number
from tests.e2e.test_journey import make_table

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

TIMEOUT_MS = 60_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with running_app(tmp_path / "home", tmp_path / "streamlit.log") as url:
        yield url


def _shot(page, name: str) -> None:  # noqa: ANN001 - playwright Page
    shot(page, f"race-{name}")


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
            upload_table(page, csv)
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
