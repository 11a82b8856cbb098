"""The Explain section in a real browser: compute on the Analytics page in the background, see
the charts; the Export page shows the same stored explanation for the model it exports."""

from __future__ import annotations

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, no_traceback, running_app, shot
from tests.test_explain import planted_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


def test_compute_on_analytics_then_read_on_export(tmp_path, knobs_home):
    from playwright.sync_api import sync_playwright

    name = planted_study()
    with running_app(knobs_home, tmp_path / "streamlit.log") as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 2400})
            page.goto(f"{url}/analytics?study={name}")
            page.get_by_role("heading", name="Explain the model").wait_for(timeout=90_000)
            page.get_by_role("button", name="Compute explanations").click()
            page.get_by_text("Permutation importance (").first.wait_for(timeout=150_000)
            page.get_by_text("SHAP values per row (beeswarm)").first.wait_for(timeout=30_000)
            no_traceback(page)
            shot(page, "explain-02-analytics")

            page.goto(f"{url}/export?study={name}")
            page.get_by_text("Explain this model").first.click(timeout=90_000)
            page.get_by_text("Permutation importance (").first.wait_for(timeout=60_000)
            no_traceback(page)
            shot(page, "explain-03-export")
            browser.close()
