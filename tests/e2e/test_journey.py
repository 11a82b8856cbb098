"""The user's journey in a real browser: upload, target, Bayesian search, live charts, reload, stop.

Starts ``streamlit run app.py`` on a free port with its own ``KNOBS_HOME`` and drives Debian's
Chromium through Playwright. The table is generated here (text labels, missing values, an ID
column, a date, a categorical), so it is one the app has never seen. Screenshots of each step go
to ``artifacts/screenshots/`` (CI keeps them); look at them when a step fails.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, running_app, upload_table
from tests.e2e.browser import no_traceback as _no_traceback
from tests.e2e.browser import set_number as _set_number
from tests.e2e.browser import shot as _shot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def make_table(path: Path, n: int = 1200, seed: int = 7) -> None:
    """Loan decisions: mixed types, text labels, missing values, an ID column and a date."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.5, n).round(2)
    debt = rng.uniform(0, 0.8, n).round(3)
    employment = rng.choice(["salaried", "self-employed", "contract", "unemployed"], n)
    region = rng.choice(["north", "south", "east", "west", "islands"], n)
    years = rng.integers(0, 30, n).astype(float)
    logit = 1.2 * (np.log(income) - 10.5) - 3 * (debt - 0.4) + 0.05 * (years - 10)
    logit += np.where(employment == "unemployed", -1.5, 0.3)
    decision = np.where(logit + rng.normal(0, 0.7, n) > 0, "approved", "rejected")
    frame = pd.DataFrame(
        {
            "application_id": [f"APP-{i:06d}" for i in rng.permutation(n)],
            "applied_on": pd.date_range("2023-01-01", periods=n, freq="6h").strftime("%Y-%m-%d"),
            "income": income,
            "debt_ratio": debt,
            "employment": employment,
            "region": region,
            "years_at_address": years,
            "decision": decision,
        }
    )
    for column, share in (("income", 0.05), ("employment", 0.08), ("years_at_address", 0.1)):
        frame.loc[rng.random(n) < share, column] = None
    frame.to_csv(path, index=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with running_app(tmp_path / "home", tmp_path / "streamlit.log") as url:
        yield url


def _select(page, label: str, option: str) -> None:  # noqa: ANN001
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label)
    # A new table gets new Data-page boxes (keyed on the table): the previous table's box stays
    # in the page until the rerun that replaces it ends.
    from playwright.sync_api import expect

    expect(box).to_have_count(1)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


def _trials_done(page) -> int:  # noqa: ANN001
    text = page.locator('[data-testid="stProgress"]').first.inner_text()
    match = re.search(r"(\d+) of (\d+) trials", text)
    return int(match.group(1)) if match else 0


def test_journey(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    csv = tmp_path / "loan_decisions.csv"
    make_table(csv)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.set_default_timeout(TIMEOUT_MS)
        try:
            # Data: the app opens on something useful (the sample), then takes our upload.
            page.goto(server)
            expect(page.get_by_text("Upload a table (CSV")).to_be_visible()
            expect(page.get_by_text("Working on churn.csv")).to_be_visible()
            upload_table(page, csv)
            _select(page, "Target column", "decision")
            expect(page.get_by_text(re.compile(r"Ready: binary classification"))).to_be_visible()
            expect(page.get_by_text("application_id").first).to_be_visible()
            _no_traceback(page)
            _shot(page, "01-data")

            # Search: a random forest, a Bayesian (TPE) budget big enough to still run when we
            # stop it, two workers.
            page.get_by_role("button", name="Next: set up the search").click()
            expect(page.get_by_role("heading", name="Search", exact=True)).to_be_visible()
            page.get_by_text("Choose the models for me").click()  # pick them ourselves
            models = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Models")
            models.get_by_role("button", name=re.compile("Remove.*Logistic")).click()
            expect(models.get_by_text("Logistic regression")).to_have_count(0)
            page.get_by_text("Bayesian (TPE)").click()
            _set_number(page, "Trials", 40)
            _set_number(page, "Folds", 3)
            _set_number(page, "Workers", 2)
            expect(page.get_by_text(re.compile(r"Budget: 40 trials"))).to_be_visible()
            expect(page.get_by_text(re.compile(r"Estimated duration"))).to_be_visible()
            _no_traceback(page)
            _shot(page, "02-search")
            page.get_by_role("button", name="Start search").click()

            # Live view: the study handle is in the URL; the charts fill by themselves.
            page.wait_for_url(re.compile(r"/live\?study="))
            study = re.search(r"study=([^&]+)", page.url).group(1)
            expect(page.get_by_role("heading", name="Live view")).to_be_visible()
            page.locator(".js-plotly-plot").first.wait_for()
            deadline = time.monotonic() + 60
            while _trials_done(page) == 0 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert _trials_done(page) > 0
            _no_traceback(page)
            _shot(page, "03-live")

            # Reload: the same search is still there, found through the URL.
            page.reload()
            expect(page.get_by_role("heading", name="Live view")).to_be_visible()
            expect(page.get_by_text(study).first).to_be_visible()
            page.locator(".js-plotly-plot .main-svg").first.wait_for()
            page.wait_for_timeout(1500)  # let the refreshed panel settle before the screenshot
            assert study in page.url
            _no_traceback(page)
            _shot(page, "04-after-reload")

            # Stop it for real: the state says so and Resume is offered.
            page.get_by_role("button", name="Stop search").click()
            expect(page.get_by_role("button", name="Resume search")).to_be_visible()
            expect(page.get_by_text(re.compile(r"^Stopped: \d+ of 40 trials"))).to_be_visible()
            _no_traceback(page)
            _shot(page, "05-stopped")

            # Studies: the search is listed and can be reopened.
            page.get_by_role("link", name="Studies").first.click()
            expect(page.get_by_role("heading", name="Studies")).to_be_visible()
            picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Study")
            expect(picker).to_match_aria_snapshot(
                '- combobox "Study": /loan_decisions-bayes-.*stopped/'
            )
            _no_traceback(page)
            _shot(page, "06-studies")
        finally:
            _shot(page, "99-last")
            browser.close()
