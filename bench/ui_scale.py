"""The dashboard at 1,000 and 10,000 trials, timed in Chromium (issue 14, part 1). Printed, not a test.

    python bench/ui_scale.py                 # builds the studies, starts the app, prints the table
    python bench/ui_scale.py --home DIR      # keep (and reuse) the bench studies in DIR

What it does:

1. Builds three Knobs studies in a journal under ``--home``: ``bench-1000`` and ``bench-10000``
   (finished) and ``bench-run-1000`` (1,000 trials, later extended by a real worker so the live
   view's timed fragment runs). Each is a real study made by ``Search.create`` (plan, split, the
   defaults trials scored); the other trials are synthetic ``FrozenTrial`` rows written with
   ``study.add_trials``, carrying ``model``, ``<model>.<param>`` parameters from the plan's spaces
   and the stored keys of ``knobs.study.keys`` (CV, WORKER, PRUNED, FAIL_REASON), as workers
   leave them. Seconds, not the hours a real search of that size takes.
2. Starts ``streamlit run app.py`` on a free port with ``KNOBS_HOME`` at those studies.
3. Times the floor: a bare Streamlit page with one small plotly chart (``bench/ui_floor_page.py``).
   Times in Chromium, from navigation to the first drawn plotly chart: the live view and the
   Analytics page on each study, cold (first visit after the server started: nothing cached)
   and warm (a new tab on the same server); then in the app: from Analytics to the live view
   and back by the sidebar's links, as a user already in the app moves (no page load).
4. Times the live view's fragment reruns while ``bench-run-1000`` runs (p50/p95), from the
   browser's rerun request to the server's "script finished" message on the websocket.
5. Restarts the server (empty caches), warms the live view of ``bench-1000`` alone, then opens
   Analytics on ``bench-10000`` in a second browser session and, at once, the live view of
   ``bench-1000`` in the first: its first chart against the alone figure (goal: at most 1.5x),
   and the server's part of it (its script run, from the websocket), since both browsers share
   this machine's two cores with the server.

The machine's other load changes every figure: run it on an idle machine, once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = (1_000, 10_000)
RUNNING = "bench-run-1000"
GOALS = {  # page -> {trials: seconds}
    "live view": {1_000: 1.0, 10_000: 2.0},
    "Analytics": {1_000: 1.0, 10_000: 2.0},
}
CHART = ".js-plotly-plot .main-svg"
#: A bare Streamlit page with one small chart: what Streamlit and plotly.js cost before any page
#: of the app can show a chart (timed first, as the floor under the goals).
FLOOR = str(ROOT / "bench" / "ui_floor_page.py")


# --- the studies --------------------------------------------------------------------------------


def _table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "colour": rng.choice(["red", "green", "blue"], n)})  # fmt: skip
    frame["label"] = np.where(frame.x1 + rng.normal(scale=0.8, size=n) > 0, "yes", "no")
    return frame


def _sample(param: Any, rng: np.random.Generator) -> Any:
    """A value of one search-space parameter, as a sampler would draw it."""
    if param.kind == "categorical":
        return param.choices[int(rng.integers(len(param.choices)))]
    lo, hi = float(param.low), float(param.high)
    x = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if param.log else rng.uniform(lo, hi)
    return int(round(min(max(x, lo), hi))) if param.kind == "int" else x


def _position(param: Any, value: Any) -> float:
    """Where a value sits in its range, 0..1: what the synthetic score depends on."""
    if param.kind == "categorical":
        return param.choices.index(value) / max(1, len(param.choices) - 1)
    lo, hi = float(param.low), float(param.high)
    if param.log:
        return (np.log(value) - np.log(lo)) / max(1e-12, np.log(hi) - np.log(lo))
    return (value - lo) / max(1e-12, hi - lo)


def build_study(name: str, n: int, seed: int = 0) -> float:
    """A finished ``n``-trial Knobs study named ``name`` in ``$KNOBS_HOME``; returns seconds taken."""
    import optuna
    from optuna.trial import TrialState

    import knobs
    from knobs.study.keys import BUDGET, CV, FAIL_REASON, PRUNED, WORKER

    started = time.perf_counter()
    config = knobs.SearchConfig(target="label", models=("logistic", "random_forest"),
                                strategy="random", n_trials=n, cv=3, workers=1, ensemble=False)  # fmt: skip
    search = knobs.Search.create(_table(), config, name=name, source=f"{name}.csv")
    study = search.study
    plan = search.plan
    for _ in plan.models:  # the queued defaults trials, scored as a worker would
        t = study.ask()
        CV.set(t, {"fold_scores": [0.80] * 3, "fit_s": 0.5})
        study.tell(t, 0.80)
    rng = np.random.default_rng(seed)
    specs = plan.specs()
    model_dist = optuna.distributions.CategoricalDistribution(list(plan.models))
    t0 = dt.datetime.now()  # after the defaults trials, as a search runs them first
    clock = [0.0, 0.0]  # two workers
    rows = []
    for i in range(n - len(plan.models)):
        model = plan.models[int(rng.integers(len(plan.models)))]
        spec = specs[model]
        params: dict[str, Any] = {"model": model}
        dists: dict[str, Any] = {"model": model_dist}
        signal = 0.0
        for p in spec.params:
            value = _sample(p, rng)
            params[spec.key(p.name)] = value
            dists[spec.key(p.name)] = p.distribution()
            signal += (0.6 if not signal else 0.2) * (1 - abs(_position(p, value) - 0.6))
        value = 0.70 + 0.12 * signal / 0.8 + float(rng.normal(0, 0.01))
        worker = i % 2
        duration = float(rng.uniform(0.5, 4.0))
        start = t0 + dt.timedelta(seconds=clock[worker])
        clock[worker] += duration
        attrs = WORKER.attr({"host": "bench", "pid": 1000 + worker, "start": None})
        draw = rng.random()
        state = TrialState.COMPLETE
        folds = {k: value + float(rng.normal(0, 0.01)) for k in range(3)}
        if draw < 0.06:
            state = TrialState.PRUNED
            folds = {0: value - 0.05}
            attrs |= PRUNED.attr({"after_fold": 1, "folds": 3, "fit_s": duration,
                                  "saved_s": 2 * duration, "fold_scores": [value - 0.05],
                                  "reason": "pruner"})  # fmt: skip
        elif draw < 0.09:
            state = TrialState.FAIL
            folds = {}
            attrs |= FAIL_REASON.attr("ValueError: the solver did not converge (synthetic)")
        else:
            attrs |= CV.attr({"fold_scores": list(folds.values()), "std": 0.01, "fit_s": duration})
        rows.append(optuna.trial.FrozenTrial(
            number=0, trial_id=0, state=state,
            value=value if state == TrialState.COMPLETE else None,
            datetime_start=start, datetime_complete=start + dt.timedelta(seconds=duration),
            params=params, distributions=dists, user_attrs=attrs, system_attrs={},
            intermediate_values=folds,
        ))  # fmt: skip
    study.add_trials(rows)
    BUDGET.set(study, n)
    return time.perf_counter() - started


def ensure_studies(home: Path) -> dict[str, float]:
    """Build the bench studies in ``home`` unless they are there already; seconds per build."""
    os.environ["KNOBS_HOME"] = str(home)
    import knobs

    have = {r["study"]: r["n_trials"] for r in knobs.studies()}
    built = {}
    for name, n in [(RUNNING, 1_000)] + [(f"bench-{n}", n) for n in SIZES]:
        if name in have:
            continue
        built[name] = build_study(name, n)
        print(f"built {name}: {n:,} trials in {built[name]:.1f} s", flush=True)
    return built


# --- the browser --------------------------------------------------------------------------------


def first_chart(page: Any, url: str) -> float:
    """Seconds from navigation to the first plotly chart drawn on the page."""
    started = time.perf_counter()
    page.goto(url)
    page.locator(CHART).first.wait_for(state="visible", timeout=180_000)
    return time.perf_counter() - started


def _timed(user: Any, url: str, shot: str | None = None) -> float:
    """First-chart seconds in a new tab of ``user`` (a browser context: its HTTP cache holds the
    app's scripts after the first visit, as a returning user's browser does; every tab is a new
    Streamlit session); with ``shot``, a screenshot once the page settled."""
    page = user.new_page()
    try:
        seconds = first_chart(page, url)
        if shot:
            from tests.e2e.browser import shot as screenshot

            page.wait_for_timeout(4000)
            screenshot(page, f"uiscale-{shot}")
        return seconds
    finally:
        page.close()


#: A chart of the page just opened: Streamlit keeps the previous page's elements, marked stale,
#: until the new page's script replaces them.
FRESH_CHART = '[data-stale="false"] ' + CHART


def in_app(user: Any, url: str, study: str, reps: int = 3) -> tuple[float, float]:
    """Median first-chart seconds of the live view and of Analytics reached from inside the app
    (the sidebar's links, as a user already in the app moves): no page load, no plotly.js to
    compile again, only the page's own script run and drawing. The study rides in the session."""
    live_s: list[float] = []
    analytics_s: list[float] = []
    for _ in range(reps):
        page = user.new_page()
        try:
            first_chart(page, f"{url}/analytics?study={study}")
            page.wait_for_timeout(2500)  # settled: no script run in flight
            for link, heading, out in (("3. Live view", "Live view", live_s),
                                       ("Analytics", "Study analytics", analytics_s)):  # fmt: skip
                started = time.perf_counter()
                page.get_by_role("link", name=link).click()
                page.get_by_role("heading", name=heading).wait_for(timeout=180_000)
                page.locator(FRESH_CHART).first.wait_for(state="visible", timeout=180_000)
                out.append(time.perf_counter() - started)
                page.wait_for_timeout(2500)
        finally:
            page.close()
    return statistics.median(live_s), statistics.median(analytics_s)


#: Installed before the page's scripts: records, with the page's own clock, every websocket frame
#: the page sends and every small one it receives (a "script finished" message is a few bytes).
_WS_LOG = """
(() => {
  const log = (window.__wslog = []);
  const b64 = (buf) => {
    const a = new Uint8Array(buf); let s = "";
    for (let i = 0; i < a.length; i++) s += String.fromCharCode(a[i]);
    return btoa(s);
  };
  const Original = window.WebSocket;
  class Logged extends Original {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const t = performance.now();
        if (e.data instanceof ArrayBuffer) log.push(["in", t, e.data.byteLength < 256 ? b64(e.data) : ""]);
      });
    }
    send(data) {
      try {
        const view = data instanceof ArrayBuffer ? new Uint8Array(data)
          : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        log.push(["out", performance.now(), b64(view.slice().buffer)]);
      } catch (err) {}
      return super.send(data);
    }
  }
  window.WebSocket = Logged;
})();
"""


def fragment_reruns(user: Any, url: str, seconds: float) -> list[float]:
    """Durations of the live view's timed fragment reruns over ``seconds``, on the page's clock:
    from the page sending the rerun request (a BackMsg naming the fragment) to it receiving the
    server's ``script_finished``."""
    import base64

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    page = user.new_page()
    page.add_init_script(_WS_LOG)
    try:
        first_chart(page, url)
        page.evaluate("window.__wslog.length = 0")
        page.wait_for_timeout(int(seconds * 1000))
        frames = page.evaluate("window.__wslog")
    finally:
        page.close()
    out: list[float] = []
    started: float | None = None
    for direction, t, data in frames:
        if not data:
            continue
        raw = base64.b64decode(data)
        if direction == "out":
            msg = BackMsg.FromString(raw)
            if msg.WhichOneof("type") == "rerun_script" and msg.rerun_script.fragment_id:
                started = t
        elif started is not None:
            try:
                kind = ForwardMsg.FromString(raw).WhichOneof("type")
            except Exception:  # noqa: BLE001 - a cut frame: not the one we look for
                continue
            if kind == "script_finished":
                out.append((t - started) / 1000)
                started = None
    return out


def first_run(user: Any, url: str) -> tuple[float, float]:
    """``(first chart s, server s)`` of a new tab: the server's part is the page's first script
    run, from the browser asking for it (the first ``rerun_script`` it sends) to the server's
    ``script_finished``, on the page's clock. Beside another session, the first figure also
    counts the two browsers sharing this machine's cores; the second is the server's wait alone."""
    import base64

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    page = user.new_page()
    page.add_init_script(_WS_LOG)
    try:
        chart = first_chart(page, url)
        frames = page.evaluate("window.__wslog")
    finally:
        page.close()
    asked = None
    for direction, t, data in frames:
        if not data:
            continue
        raw = base64.b64decode(data)
        if direction == "out" and asked is None:
            if BackMsg.FromString(raw).WhichOneof("type") == "rerun_script":
                asked = t
        elif direction == "in" and asked is not None:
            try:
                if ForwardMsg.FromString(raw).WhichOneof("type") == "script_finished":
                    return chart, (t - asked) / 1000
            except Exception:  # noqa: BLE001 - a cut frame: not the one we look for
                continue
    return chart, float("nan")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="where the bench studies live")
    parser.add_argument("--rerun-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="knobs-ui-scale-"))
    home.mkdir(parents=True, exist_ok=True)
    ensure_studies(home)

    from playwright.sync_api import sync_playwright

    import knobs
    from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, running_app

    rows: list[tuple[str, str, str, str]] = []

    def add(page: str, study: str, measured: str, goal: str) -> None:
        rows.append((page, study, measured, goal))
        print(f"  {page:<34} {study:<16} {measured:<22} {goal}", flush=True)

    logs = Path(tempfile.mkdtemp(prefix="knobs-ui-scale-logs-"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        viewport = {"width": 1400, "height": 1800}
        with running_app(home, logs / "streamlit-0.log", script=FLOOR) as url:
            user = browser.new_context(viewport=viewport)
            cold = _timed(user, url)
            warm = statistics.median(_timed(user, url) for _ in range(3))
            add("floor: bare page, one small chart", "-", f"{cold:.2f} s cold, {warm:.2f} s warm",
                "-")  # fmt: skip
            user.close()
        with running_app(home, logs / "streamlit-1.log") as url:
            user = browser.new_context(viewport=viewport)
            for label, path in (("live view", "live"), ("Analytics", "analytics")):
                for n in SIZES:
                    study = f"bench-{n}"
                    target = f"{url}/{path}?study={study}"
                    cold = _timed(user, target)
                    warm = _timed(user, target, shot=f"{path}-{n}")
                    goal = f"{GOALS[label][n]:.0f} s"
                    add(f"{label}: first chart", f"{n:,} trials", f"{cold:.2f} s cold, "
                        f"{warm:.2f} s warm", goal)  # fmt: skip
            for n in SIZES:
                live_s, analytics_s = in_app(user, url, f"bench-{n}")
                for label, seconds in (("live view", live_s), ("Analytics", analytics_s)):
                    add(f"{label}: first chart, in the app", f"{n:,} trials",
                        f"{seconds:.2f} s (median of 3)", f"{GOALS[label][n]:.0f} s")  # fmt: skip
            run = knobs.Search.open(RUNNING)
            run.start(workers=1, n_trials=run.budget() + 200)
            try:
                reruns = fragment_reruns(user, f"{url}/live?study={RUNNING}",
                                         args.rerun_seconds)  # fmt: skip
            finally:
                run.stop()
            if reruns:
                add("live view: fragment rerun", "1,000 running",
                    f"p50 {statistics.median(reruns):.2f} s, p95 {_pct(reruns, 0.95):.2f} s "
                    f"(n={len(reruns)})", "-")  # fmt: skip
            else:
                add("live view: fragment rerun", "1,000 running", "no rerun seen", "-")
            user.close()
        with running_app(home, logs / "streamlit-2.log") as url:
            user = browser.new_context(viewport=viewport)
            live = f"{url}/live?study=bench-1000"
            _timed(user, live)  # the page and its caches warm, as for a user already there
            alone, alone_server = first_run(user, live)
            other = browser.new_context(viewport=viewport).new_page()
            other.goto(f"{url}/analytics?study=bench-10000", wait_until="commit")
            other.wait_for_timeout(300)  # its script is running when the first user arrives
            beside, beside_server = first_run(user, live)
            other.locator(CHART).first.wait_for(state="visible", timeout=300_000)
            add("live view beside Analytics 10,000", "1,000 trials",
                f"{beside:.2f} s vs {alone:.2f} s alone ({beside / alone:.1f}x)",
                "at most 1.5x")  # fmt: skip
            add("  its server run (script start to end)", "1,000 trials",
                f"{beside_server:.2f} s vs {alone_server:.2f} s alone "
                f"({beside_server / alone_server:.1f}x)", "-")  # fmt: skip
        browser.close()
    print()
    print("| page | study | measured | goal |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nstudies in {home}; server logs in {logs}")


if __name__ == "__main__":
    main()
