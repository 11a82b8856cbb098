"""A link to a page works on a freshly started server (a reload after a server restart).

Streamlit's old multipage mode auto-registers a `pages/` folder and, on the first request after a
start, would run the linked page without app.py: raw file names in the sidebar, no page config.
Our pages live in `app_pages/`; this test keeps it that way.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.test_journey import CHROMIUM, CHROMIUM_ARGS, ROOT, _free_port, _wait_healthy

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]


def test_first_request_to_a_deep_link_gets_the_app_navigation(tmp_path):
    from playwright.sync_api import sync_playwright

    port = _free_port()
    env = {**os.environ, "KNOBS_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
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
    finally:
        proc.terminate()
        proc.wait(timeout=20)
