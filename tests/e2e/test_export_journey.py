"""The Export page in a real browser: a finished study, build the bundle, read the card, see the
download button, score a CSV. Browser downloads do not work in this environment, so the bytes
behind the button are checked through the same core function the page calls.

Screenshots go to ``artifacts/screenshots/export-*.png``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, running_app, shot
from tests.e2e.browser import no_traceback as _no_traceback
from tests.e2e.test_journey import make_table

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

STUDY = "e2e-export"
TIMEOUT_MS = 60_000


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    home = tmp_path / "home"
    monkeypatch.setenv("KNOBS_HOME", str(home))
    import knobs

    csv = tmp_path / "loan_decisions.csv"
    make_table(csv, n=300)
    knobs.tune(str(csv), "decision", models="logistic", n_trials=2, cv=2, workers=1, study=STUDY,
               refit=False)  # fmt: skip
    with running_app(home, tmp_path / "streamlit.log") as url:
        yield url, csv


def _shot(page, name: str) -> None:  # noqa: ANN001 - playwright Page
    shot(page, f"export-{name}")


def test_export_journey(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # a refit on a busy machine takes a while

    url, csv = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.set_default_timeout(TIMEOUT_MS)
        try:
            page.goto(f"{url}/export?study={STUDY}")
            expect(page.get_by_role("heading", name="Export", exact=True)).to_be_visible()
            expect(page.get_by_text("then build the export")).to_be_visible()
            _no_traceback(page)
            _shot(page, "01-choose")

            page.get_by_role("button", name="Build export").click()
            download = page.get_by_role("button", name="Download skops bundle")
            expect(download).to_be_visible()
            expect(page.get_by_role("tab", name="Model card")).to_be_visible()
            expect(page.get_by_text("Input schema").first).to_be_visible()
            expect(page.get_by_text("Data fingerprint").first).to_be_visible()
            _no_traceback(page)
            _shot(page, "02-card")

            # The score box: the same predict path as `knobs predict`.
            page.get_by_role("tab", name="Score a new CSV").click()
            page.locator('input[type="file"]').first.set_input_files(str(csv))  # not a later uploader
            expect(page.get_by_role("button", name="Download predictions (.csv)")).to_be_visible()
            # the ID column is the rows' key, not "ignored" (both were said of it)
            expect(page.get_by_text("predictions, keyed by")).to_be_visible()
            expect(page.get_by_text("Ignored column(s)")).to_have_count(0)
            expect(page.locator('[data-testid="stDataFrame"] canvas').first).to_be_visible()
            page.wait_for_timeout(1000)  # the grid paints its canvas after it is attached
            _no_traceback(page)
            _shot(page, "03-scored")
        finally:
            browser.close()

    # The download's bytes, through the same function the page calls.
    from components.export import study_download
    from knobs.export import load_bundle_bytes

    data, card = study_download(STUDY, None, "skops")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert {"model.skops", "card.json", "card.md", "train.py", "requirements.txt"} == set(
            zf.namelist()
        )
    assert load_bundle_bytes(data).card["study"] == STUDY == card["study"]
