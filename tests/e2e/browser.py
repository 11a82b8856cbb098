"""What every browser test needs: a real `streamlit run app.py` on a free port, Debian's Chromium,
screenshots, and a clean stop that also ends the detached worker and race processes it started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout_s} s")


def stop_started(home: Path) -> None:
    """Workers and race runners live in their own sessions by design: end those under ``home``."""
    pids: list[int] = []
    for path in home.glob("races/*.json"):
        with contextlib.suppress(ValueError, OSError):
            pid = json.loads(path.read_text()).get("pid")
            if pid:
                pids.append(int(pid))
    for path in home.glob("races/*.pid"):
        with contextlib.suppress(ValueError, OSError):
            pids.append(int(path.read_text()))
    for path in home.glob("studies/*/workers.txt"):
        pids += [int(p.split()[1]) for p in path.read_text().splitlines() if len(p.split()) == 3]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_app(home: Path, log_path: Path, script: str = "app.py") -> Iterator[str]:
    """Start the app (or another Streamlit ``script``) with ``KNOBS_HOME=home``; yield its URL;
    stop it and what it started.

    The server's log must hold no traceback: the page may look fine while the server failed.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    port = free_port()
    env = dict(os.environ, KNOBS_HOME=str(home), PYTHONUNBUFFERED="1")
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()
        stop_started(home)
        server_log = log_path.read_text(errors="replace")
        assert "Traceback" not in server_log, server_log[-4000:]


def shot(page, name: str) -> None:  # noqa: ANN001 - playwright Page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_traceback(page) -> None:  # noqa: ANN001 - playwright Page
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.locator("body").inner_text()


def set_number(page, label: str, value: int) -> None:  # noqa: ANN001 - playwright Page
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")


def wait_idle(page) -> None:  # noqa: ANN001 - playwright Page
    """Wait until the script run in progress has finished.

    A file handed to an uploader while the page's first run is still drawing can be dropped by
    the browser side (the race journey lost one this way on a loaded CI machine), so uploads
    wait for the app to be idle, as a user would see the page settle first."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')


def upload_table(page, path: Path) -> None:  # noqa: ANN001 - playwright Page
    """Upload a table on the Data page and wait until it is the one worked on, with its own
    single Target box (the previous table's box lingers while the new run draws)."""
    from playwright.sync_api import expect

    wait_idle(page)
    page.locator('input[type="file"]').first.set_input_files(str(path))  # not a later uploader
    expect(page.get_by_text(f"Working on {path.name}")).to_be_visible()
    boxes = page.locator('[data-testid="stSelectbox"]').filter(has_text="Target column")
    expect(boxes).to_have_count(1)
    wait_idle(page)
