"""Warm start in a real browser: the Search page offers an earlier study on the same kind of
table, the search starts from it, and the live view says what carried over.

The earlier study is written into the server's ``KNOBS_HOME`` first (a finished study on the
churn sample the app opens with, no workers). Screenshots: ``artifacts/screenshots/transfer-*``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, running_app
from tests.e2e.browser import no_traceback as _no_traceback
from tests.e2e.browser import set_number as _set_number
from tests.e2e.browser import shot as _shot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def earlier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from knobs.data import read_table, sample_path
    from tests.conftest import pruned_study

    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "home"))
    return pruned_study(read_table(sample_path("churn")).frame, "churn", source="churn.csv")


@pytest.fixture
def server(tmp_path: Path, earlier: str) -> Iterator[str]:
    assert os.environ["KNOBS_HOME"] == str(tmp_path / "home")
    with running_app(tmp_path / "home", tmp_path / "streamlit.log") as url:
        yield url


def test_warm_start_journey(server: str, earlier: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # reruns take seconds on a busy 2-core machine
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2600})
        page.set_default_timeout(TIMEOUT_MS)
        try:
            page.goto(server)
            # The first run of the app imports everything: slow on a busy machine.
            expect(page.get_by_text("Working on churn.csv")).to_be_visible(timeout=90_000)
            page.get_by_role("button", name="Next: set up the search").click()
            expect(page.get_by_role("heading", name="Search", exact=True)).to_be_visible()
            expect(page.get_by_text("1 earlier study on tables like this one")).to_be_visible()
            page.get_by_text("Choose the models for me").click()
            _set_number(page, "Trials", 6)  # 4 openers, the warm trial, 1 sampled
            _set_number(page, "Folds", 2)
            _set_number(page, "Workers", 1)
            picker = page.locator('[data-testid="stMultiSelect"]').filter(
                has_text="Earlier studies"
            )
            picker.click()
            page.get_by_role("option", name=re.compile(re.escape(earlier))).click()
            expect(picker.get_by_text(re.compile(re.escape(earlier)))).to_be_visible()
            page.keyboard.press("Escape")
            expect(page.get_by_text(re.compile(r"Budget: 6 trials"))).to_be_visible()
            expect(page.get_by_text(re.compile(r"Estimated duration"))).to_be_visible()
            expect(page.get_by_role("heading", name="Before you start")).to_have_count(1)
            _no_traceback(page)
            _shot(page, "transfer-01-search")
            page.get_by_role("button", name="Start search").click()

            page.wait_for_url(re.compile(r"/live\?study="), timeout=90_000)
            expect(page.get_by_role("heading", name="Live view")).to_be_visible()
            page.get_by_text("What Knobs did with the data").click()
            expect(
                page.get_by_text(re.compile(f"Warm start from {re.escape(earlier)}"))
            ).to_be_visible()
            _no_traceback(page)
            _shot(page, "transfer-02-live")
        finally:
            browser.close()
            expect.set_options(timeout=5_000)  # Playwright's default, for the tests after this one
