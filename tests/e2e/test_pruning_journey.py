"""In a real browser: the live view of a search with pruned trials shows them, and what pruning
saved; a search on auto shows how its budget was spread."""

from __future__ import annotations

import pandas as pd
import pytest

from knobs.data import sample_path
from tests.conftest import pruned_study
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, no_traceback, running_app, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


def test_live_view_shows_pruned_trials_and_saved_compute(tmp_path, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    home = tmp_path / "home"
    monkeypatch.setenv("KNOBS_HOME", str(home))
    name = pruned_study(pd.read_csv(sample_path("churn")).head(300), "churn")
    with running_app(home, tmp_path / "streamlit.log") as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1400})
            page.goto(f"{url}/live?study={name}")
            expect(page.get_by_text("Pruning saved about")).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.get_by_text("0 / 2")).to_be_visible()
            page.get_by_role("tab", name="Trials").scroll_into_view_if_needed()
            shot(page, "pruning-live")
            # The tabs below the progress charts are drawn when opened, in the browser too.
            charts = page.locator(".js-plotly-plot")
            expect(charts).to_have_count(2, timeout=TIMEOUT_MS)
            page.get_by_role("tab", name="Every trial's score").click()
            expect(charts).to_have_count(3, timeout=TIMEOUT_MS)
            no_traceback(page)
            browser.close()
