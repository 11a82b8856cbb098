"""Every row of every registry is reachable from the CLI and the dashboard.

A strategy or a metric is declared once (``knobs.strategies.STRATEGIES``, ``knobs.metrics.METRICS``);
these tests fail when a front end keeps its own list and a new row does not reach it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import state
from knobs import race
from knobs.cli import build_parser
from knobs.config import SearchConfig
from knobs.metrics import METRICS, get_metric, metric_label, metric_names
from knobs.models import Param
from knobs.strategies import STRATEGIES, by_name, get_strategy, make_sampler, offered
from knobs.study.keys import STUDY_KEYS, TRIAL_KEYS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_is_reachable_from_the_cli_the_config_and_the_race(name: str) -> None:
    row = STRATEGIES[name]
    args = build_parser().parse_args(
        ["tune", "t.csv", "--target", "y", "--strategy", row.strategy, "--sampler", row.sampler]
    )
    config = SearchConfig(target="y", strategy=args.strategy, sampler=args.sampler)
    assert get_strategy(config.strategy, config.sampler) is row
    assert race.parse_contestants([name, "random" if name != "random" else "tpe"])[0] == name
    assert by_name(name) is row
    grid = {"model": ["m"], "m.x": [1, 2]} if row.strategy == "grid" else None
    sampler = make_sampler(row.strategy, row.sampler, seed=0, grid=grid)
    assert sampler is not None


@pytest.mark.parametrize(("name", "task"), [(n, t) for n, m in METRICS.items() for t in sorted(m.tasks)])
def test_every_metric_is_reachable_from_the_cli_and_the_search_form(name: str, task: str) -> None:
    args = build_parser().parse_args(["tune", "t.csv", "--target", "y", "--metric", name])
    metric = get_metric(args.metric, task)
    # roc_auc asked on a multiclass task is its one-vs-rest form, by design.
    assert metric is METRICS[name] or (name, metric.name) == ("roc_auc", "roc_auc_ovr")
    if metric is METRICS[name]:
        assert name in metric_names(task)
    assert metric_label(name) == METRICS[name].label


def test_the_search_page_offers_every_offered_strategy_and_the_race_every_strategy() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("app_pages/search.py").run()
    assert not at.exception
    assert at.radio(key=state.W_STRATEGY).options == [s.label for s in offered()]
    metrics = at.selectbox(key=state.W_METRIC).options
    assert metrics == [metric_label(n) for n in metric_names("binary")]
    at.switch_page("app_pages/race.py").run()
    assert not at.exception
    options = at.multiselect(key=state.W_RACE_CONTESTANTS).options
    assert options == [s.short for s in STRATEGIES.values()]


def test_strategy_rows_are_unique_by_name_and_by_config_pair() -> None:
    pairs = [(s.strategy, s.sampler if s.strategy == "bayes" else "") for s in STRATEGIES.values()]
    assert len(set(pairs)) == len(pairs)
    assert len({s.colour for s in STRATEGIES.values()}) == len(STRATEGIES)


def test_stored_keys_are_declared_once_and_namespaced() -> None:
    names = [k.name for k in (*STUDY_KEYS, *TRIAL_KEYS)]
    assert len(set(names)) == len(names)
    assert all(n.startswith("knobs.") for n in names)


def test_no_module_outside_the_keys_module_spells_a_stored_key() -> None:
    names = {k.name for k in (*STUDY_KEYS, *TRIAL_KEYS)}
    offenders = []
    for folder in ("knobs", "components", "app_pages"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "keys.py":
                continue
            text = path.read_text(encoding="utf-8")
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if f'"{n}"' in text]
    assert not offenders


def test_no_core_module_imports_the_public_facade() -> None:
    offenders = []
    for path in (ROOT / "knobs").rglob("*.py"):
        if path.name in ("api.py", "__init__.py", "cli.py") and path.parent.name == "knobs":
            continue
        text = path.read_text(encoding="utf-8")
        if "from knobs.api import" in text or "import knobs.api" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders


def test_space_overrides_still_validate_through_the_registry() -> None:
    config = SearchConfig(target="y", space={"xgboost": (Param("max_depth", "int", 2, 4),)})
    assert config.space["xgboost"][0].name == "max_depth"
