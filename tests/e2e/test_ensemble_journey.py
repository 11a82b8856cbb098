"""Ensemble page in a real browser: a study made beforehand via the API, one greedy ensemble
built, compared and kept. Screenshots go to ``artifacts/screenshots/ensemble-*.png``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.test_journey import CHROMIUM, CHROMIUM_ARGS, _free_port, _wait_healthy

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
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
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    home = tmp_path / "home"
    study = _make_study(home)
    port = _free_port()
    env = dict(os.environ, KNOBS_HOME=str(home), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, study, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()
        server_log = (tmp_path / "streamlit.log").read_text(errors="replace")
        assert "Traceback" not in server_log, server_log[-4000:]


def _shot(page, name: str) -> None:  # noqa: ANN001 - playwright Page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"ensemble-{name}.png"), full_page=True)


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
