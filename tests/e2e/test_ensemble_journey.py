"""Ensemble page in a real browser: a study made beforehand via the API, one greedy ensemble
built, compared and kept. Screenshots go to ``artifacts/screenshots/ensemble-*.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, running_app, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

TIMEOUT_MS = 90_000


def _make_study(home: Path) -> str:
    import knobs
    from knobs.data import sample_path

    frame = pd.read_csv(sample_path("churn")).head(500)
    config = knobs.SearchConfig(
        target="churn", models=("logistic", "random_forest"), strategy="random", n_trials=6,
        cv=3, workers=1,
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(home))
        search = knobs.Search.create(frame, config, source="churn.csv")
        search.start()
        search.wait(poll_s=0.2)
    return search.name


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    home = tmp_path / "home"
    study = _make_study(home)
    with running_app(home, tmp_path / "streamlit.log") as url:
        yield url, study, home


def _shot(page, name: str) -> None:  # noqa: ANN001 - playwright Page
    shot(page, f"ensemble-{name}")


def test_build_and_keep_one_ensemble(server: tuple[str, str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    from knobs import ensembles

    url, study, home = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.set_default_timeout(TIMEOUT_MS)
        try:
            page.goto(f"{url}/ensemble?study={study}")
            expect(page.get_by_role("heading", name="Ensembles")).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.get_by_role("heading", name="Candidates")).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.get_by_text("Correlation of out-of-fold predictions")).to_be_visible(
                timeout=TIMEOUT_MS
            )
            _shot(page, "01-candidates")

            page.get_by_text("Greedy selection (Caruana)").click()
            expect(page.get_by_text("Selection rounds")).to_be_visible(timeout=TIMEOUT_MS)
            page.get_by_role("button", name="Build ensemble").click()
            expect(
                page.get_by_role("heading", name="Greedy selection (Caruana): ensemble vs best")
            ).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.get_by_text("Ensemble vs members")).to_be_visible(timeout=TIMEOUT_MS)
            verdict = page.get_by_text(re.compile(r"The ensemble helps|does not help|Mixed"))
            expect(verdict.first).to_be_visible(timeout=TIMEOUT_MS)
            assert page.locator('[data-testid="stException"]').count() == 0
            _shot(page, "02-built")

            page.get_by_role("button", name="Keep this ensemble for export").click()
            expect(page.get_by_text("Kept as").first).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.get_by_role("heading", name="Kept ensembles")).to_be_visible(
                timeout=TIMEOUT_MS
            )
            _shot(page, "03-kept")
        finally:
            browser.close()
    kept = ensembles.list_ensembles(study, storage=str(home / "knobs.journal"))
    assert len(kept) == 1 and kept[0]["kind"] == "greedy"
