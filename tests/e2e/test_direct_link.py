"""A link to a page works on a freshly started server (a reload after a server restart).

Streamlit's old multipage mode auto-registers a `pages/` folder and, on the first request after a
start, would run the linked page without app.py: raw file names in the sidebar, no page config.
Our pages live in `app_pages/`; this test keeps it that way.
"""

from __future__ import annotations

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]


def test_first_request_to_a_deep_link_gets_the_app_navigation(tmp_path):
    from playwright.sync_api import sync_playwright

    with running_app(tmp_path / "home", tmp_path / "streamlit.log") as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(f"{url}/studies")  # the very first request this server sees
            page.get_by_role("heading", name="Studies").wait_for(timeout=60_000)
            nav = page.locator('[data-testid="stSidebarNav"]')
            nav.get_by_text("1. Data").wait_for(timeout=30_000)
            assert nav.get_by_text("Strategy race").count() == 1
            assert nav.get_by_text("app", exact=True).count() == 0
            browser.close()
