"""Architecture search over the whole pipeline (``--search-pipeline``): the preprocessing
choices of ``knobs.pipelines`` as study parameters, the MLP's per-layer widths, and a
pipeline-searched trial refitted, exported and rebuilt by train.py exactly.

Suggestion coverage runs Optuna in memory on a real plan (``Search.create`` splits and profiles
the table; no worker runs); the end-to-end tests spawn one worker and are marked slow.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.feature_selection import SelectPercentile
from sklearn.pipeline import Pipeline

from knobs import study as results
from knobs.api import Search
from knobs.cli import build_parser
from knobs.config import SearchConfig
from knobs.data import build_preprocessor, prepare
from knobs.errors import ConfigError
from knobs.export import source_from_study, write_bundle
from knobs.export._trainpy import _Renderer
from knobs.models import REGISTRY, Param
from knobs.pipelines import PREFIX, PREP_CHOICES, choices_for, prep_grid, split_params
from knobs.study import pipeline_for, suggest
from knobs.study._estimate import probe_prep_extra_seconds
from tests.test_export import assert_train_py_reproduces, rich_table

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: Every declared choice and value, as (choice name, value) pairs.
CASES = [(c.name, v) for c in PREP_CHOICES for v in c.param.choices]
SCALED = {"binary": "logistic", "regression": "linear"}


def messy(task: str, n: int = 200, seed: int = 1) -> pd.DataFrame:
    """Numbers with gaps, yes/no, a date, free text, low- and high-cardinality text categories."""
    frame = rich_table(n=n, seed=seed)
    rng = np.random.default_rng(seed)
    frame.loc[rng.random(n) < 0.15, "count"] = np.nan
    frame.loc[rng.random(n) < 0.1, "city"] = np.nan
    if task == "regression":
        frame["label"] = frame["x1"] * 3 + (frame["color"] == "red") + rng.normal(size=n)
    return frame


@pytest.fixture(scope="module")
def datasets() -> dict[str, object]:
    return {task: prepare(messy(task), "label") for task in SCALED}


def code(estimator: object) -> str:
    """The constructor code train.py would write: two pipelines are the same iff equal."""
    return _Renderer().estimator(estimator)


@pytest.mark.parametrize("task", list(SCALED))
@pytest.mark.parametrize(("name", "value"), CASES)
def test_each_choice_builds_a_pipeline_that_fits_and_predicts(datasets, task, name, value):
    """Every declared value fits and predicts on a mixed table with missing values and text
    categories, unseen levels included; a non-default value really changes the pipeline."""
    ds = datasets[task]
    model = SCALED[task]
    choice = next(c for c in PREP_CHOICES if c.name == name)
    pipeline = pipeline_for(ds, model, {choice.key: value})
    if value == choice.default:
        assert code(pipeline) == code(pipeline_for(ds, model, {}))
    else:
        assert code(pipeline) != code(pipeline_for(ds, model, {}))
    fitted = clone(pipeline).fit(ds.X.iloc[:150], ds.y.iloc[:150])
    new = ds.X.iloc[150:].copy()
    new.loc[new.index[:5], "city"] = "a city never seen"
    pred = fitted.predict(new)
    assert len(pred) == len(new) and np.isfinite(np.asarray(pred, dtype=float)).all()
    if name == "keep_features" and value < 1:
        prep = fitted.named_steps["prep"]
        assert isinstance(prep.named_steps["select"], SelectPercentile)
        width = prep.named_steps["columns"].transform(new).shape[1]
        assert prep.transform(new).shape[1] == pytest.approx(width * value, abs=1)


def test_defaults_build_the_fixed_preprocessing_unchanged(datasets):
    """Stored studies and the default search build exactly the preprocessing they always did."""
    ds = datasets["binary"]
    defaults = {c.name: c.default for c in PREP_CHOICES}
    for scale in (True, False):
        fixed = build_preprocessor(ds, scale=scale)
        assert code(build_preprocessor(ds, scale=scale, task="binary", **defaults)) == code(fixed)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"prep.encoding": "hashing"}, r"`encoding` must be one of \['onehot', 'ordinal'"),
        ({"prep.scaler": "minmax"}, r"`scaler` must be one of"),
        ({"prep.keep_features": 0.0}, r"must lie in \(0, 1\]"),
        ({"prep.colour": 1}, r"Unknown preprocessing parameter `prep.colour`"),
    ],
)
def test_bad_choices_are_refused_by_name(datasets, params, match):
    with pytest.raises(ConfigError, match=match):
        pipeline_for(datasets["binary"], "logistic", params)


def test_selection_needs_the_task(datasets):
    with pytest.raises(ConfigError, match="needs the task"):
        build_preprocessor(datasets["binary"], scale=True, keep_features=0.5)


def make_search(tmp_path: Path, task: str = "binary", **config: object) -> Search:
    tmp_path.mkdir(parents=True, exist_ok=True)
    csv = tmp_path / f"{task}.csv"
    messy(task).to_csv(csv, index=False)
    options = {"target": "label", "cv": 2, "n_trials": 4, "seed": 0, **config}
    return Search.create(csv, SearchConfig(**options), source=csv.name)


def suggested(problem: results.Problem, sampler: optuna.samplers.BaseSampler, n: int) -> list:
    """``n`` trials' suggestions from the search's own ``suggest`` (no model is fitted)."""
    out = []

    def objective(trial: optuna.Trial) -> float:
        spec, params = suggest(trial, problem)
        out.append((spec.name, params))
        return 0.0

    optuna.create_study(sampler=sampler).optimize(objective, n_trials=n)
    return out


def test_a_search_with_enough_trials_explores_every_choice(tmp_path):
    search = make_search(
        tmp_path, models=("logistic", "random_forest"), strategy="random", search_pipeline=True
    )
    problem = search.plan.problem()
    assert problem.search_pipeline
    seen: dict[str, set] = {}
    for model, params in suggested(problem, optuna.samplers.RandomSampler(seed=0), 150):
        prep = {k for k in params if k.startswith(PREFIX)}
        assert prep == {c.key for c in choices_for(REGISTRY[model])}, (model, prep)
        for key in prep:
            seen.setdefault(key, set()).add(params[key])
    assert seen == {c.key: set(c.param.choices) for c in PREP_CHOICES}
    # Trees are not fed scaled features, so they never pick a scaler.
    assert "prep.scaler" not in {c.key for c in choices_for(REGISTRY["random_forest"])}


def test_the_grid_walks_every_choice_and_its_size_counts_them(tmp_path):
    small = {"logistic": (Param("C", "float", 1e-3, 1e3, log=True, grid=(1.0,)),
                          Param("class_weight", "categorical", choices=(None, "balanced"),
                                grid=(None,)))}  # fmt: skip
    search = make_search(
        tmp_path, models=("logistic",), strategy="grid", search_pipeline=True, space=small
    )
    plan = search.plan
    spec = plan.specs()["logistic"]
    size = math.prod(len(c.param.choices) for c in choices_for(spec))
    assert plan.grid_size() == size == 3 * 2 * 2 * 3 * 3
    grid = plan.grid_for(spec)
    assert set(prep_grid(spec)) <= set(grid)
    problem = plan.problem()
    points = suggested(problem, optuna.samplers.GridSampler(grid, seed=0), size)
    combos = {tuple(sorted((k, repr(v)) for k, v in p.items() if k.startswith(PREFIX)))
              for _, p in points}  # fmt: skip
    assert len(combos) == size  # every point once: each choice in every combination
    plain = make_search(tmp_path / "plain", models=("logistic",), strategy="grid", space=small)
    assert plain.plan.grid_size() == 1


def test_default_searches_suggest_no_pipeline_parameters(tmp_path):
    search = make_search(tmp_path, models=("logistic", "mlp"), strategy="random")
    assert search.plan.config.search_pipeline is False
    problem = search.plan.problem()
    for _model, params in suggested(problem, optuna.samplers.RandomSampler(seed=1), 30):
        assert not [k for k in params if k.startswith(PREFIX)]
    assert search.plan.grid_size() == sum(s.grid_size() for s in search.plan.specs().values())
    # A config stored before the switch existed reads back as off.
    data = search.plan.config.to_dict()
    data.pop("search_pipeline")
    assert SearchConfig.from_dict(data).search_pipeline is False
    assert SearchConfig.from_dict({**data, "search_pipeline": True}).search_pipeline is True


def test_the_cli_switch_reaches_the_config():
    parser = build_parser()
    args = parser.parse_args(["tune", "t.csv", "--target", "y", "--search-pipeline"])
    assert args.search_pipeline is True
    assert parser.parse_args(["tune", "t.csv", "--target", "y"]).search_pipeline is False


def test_split_params_keeps_model_and_pipeline_apart():
    model, prep = split_params({"C": 1.0, "prep.encoding": "target", "prep.keep_features": 0.5})
    assert model == {"C": 1.0} and prep == {"encoding": "target", "keep_features": 0.5}


# --- the MLP's shape -------------------------------------------------------------------------


def test_mlp_layers_have_their_own_widths_and_old_params_still_build():
    spec = REGISTRY["mlp"]
    three = spec.estimator("binary", {"n_layers": 3, "width": 64, "width_2": 32, "width_3": 8})
    assert three.hidden_layer_sizes == (64, 32, 8)
    # Studies stored before per-layer widths hold only `width`: every layer keeps it.
    assert spec.estimator("binary", {"n_layers": 2, "width": 32}).hidden_layer_sizes == (32, 32)
    assert spec.estimator("binary", {"n_layers": 2, "width": 32, "width_2": 16, "width_3": 99})\
        .hidden_layer_sizes == (32, 16)  # fmt: skip
    sgd = spec.estimator("regression", {"schedule": "adaptive", "activation": "tanh",
                                        "batch_size": 32})  # fmt: skip
    assert (sgd.solver, sgd.learning_rate, sgd.activation, sgd.batch_size) == (
        "sgd", "adaptive", "tanh", 32)  # fmt: skip
    assert spec.estimator("binary", {"schedule": "adam"}).solver == "adam"


def test_mlp_sampled_trials_get_one_width_per_layer(tmp_path):
    """Every MLP trial samples the same space; its network has exactly ``n_layers`` layers, each
    with its own width, and every MLP knob (activation, batch size, schedule) is explored."""
    search = make_search(tmp_path, models=("mlp",), strategy="random")
    problem = search.plan.problem()
    spec = REGISTRY["mlp"]
    seen: dict[str, set] = {"n_layers": set(), "activation": set(), "schedule": set()}
    for _model, params in suggested(problem, optuna.samplers.RandomSampler(seed=2), 40):
        widths = (params["width"], params["width_2"], params["width_3"])
        layers = params["n_layers"]
        assert spec.estimator("binary", params).hidden_layer_sizes == widths[:layers]
        for key in seen:
            seen[key].add(params[key])
    assert seen == {"n_layers": {1, 2, 3}, "activation": {"relu", "tanh", "logistic"},
                    "schedule": {"adam", "constant", "invscaling", "adaptive"}}  # fmt: skip


def test_mlp_with_three_layers_learns(datasets):
    ds = datasets["binary"]
    params = {"n_layers": 3, "width": 32, "width_2": 16, "width_3": 8, "max_iter": 60,
              "schedule": "invscaling", "learning_rate_init": 0.01, "prep.scaler": "robust"}  # fmt: skip
    fitted = pipeline_for(ds, "mlp", params).fit(ds.X, ds.y)
    assert fitted.named_steps["model"].hidden_layer_sizes == (32, 16, 8)
    assert fitted.predict_proba(ds.X).shape == (len(ds.X), 2)


# --- duration estimate -----------------------------------------------------------------------


def test_the_estimate_prices_the_pipeline_choices(datasets):
    ds = datasets["binary"]
    extra = probe_prep_extra_seconds(ds, REGISTRY["logistic"])
    assert math.isfinite(extra) and extra >= 0
    # Cached per table and scaling: the Search page asks on every rerun.
    assert probe_prep_extra_seconds(ds, REGISTRY["logistic"]) == extra


# --- refit, export and train.py of a pipeline-searched trial ----------------------------------

#: One trial per task, chosen to cover non-default values of every choice, the F-test of both
#: tasks (train.py must write f_regression) and target encoding of every categorical.
PICKED = {
    "binary": {"model": "logistic", "logistic.C": 1.0, "logistic.class_weight": None,
               "prep.encoding": "ordinal", "prep.impute": "mean",
               "prep.missing_indicator": False, "prep.scaler": "quantile",
               "prep.keep_features": 0.75},
    "regression": {"model": "linear", "linear.alpha": 1.0, "prep.encoding": "target",
                   "prep.impute": "median", "prep.missing_indicator": True,
                   "prep.scaler": "robust", "prep.keep_features": 0.5},
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("task", list(PICKED))
def test_a_pipeline_searched_trial_refits_exports_and_rebuilds(tmp_path, task):
    csv = tmp_path / f"{task}.csv"
    messy(task).to_csv(csv, index=False)
    model = PICKED[task]["model"]
    config = SearchConfig(
        target="label", models=(model,), strategy="random", n_trials=3, cv=2, seed=0,
        workers=1, ensemble=False, search_pipeline=True,
    )  # fmt: skip
    search = Search.create(csv, config, name=f"pipe-{task}", source=csv.name)
    search.study.enqueue_trial(PICKED[task])
    search.start(workers=1)
    search.wait()
    trials = search.trials()
    picked = next(t for t in trials if t.params == PICKED[task])
    assert picked.state.name == "COMPLETE", picked.user_attrs
    plan = search.plan
    # The refit builds the trial's own pipeline: its CV on the study's folds is the trial's score.
    name, params = results.refit_params(plan, picked)
    assert {k: v for k, v in params.items() if k.startswith(PREFIX)} == {
        k: v for k, v in PICKED[task].items() if k.startswith(PREFIX)
    }
    problem = plan.problem()
    scores = []
    for train_idx, valid_idx in problem.folds:
        pipe = pipeline_for(plan, name, params, seed=plan.config.seed)
        pipe.fit(problem.X.iloc[train_idx], problem.y.iloc[train_idx])
        scores.append(
            problem.metric.score(pipe, problem.X.iloc[valid_idx], problem.y.iloc[valid_idx])
        )
    assert float(np.mean(scores)) == pytest.approx(picked.value, rel=1e-9)
    refitted = results.refit(plan, picked)
    assert isinstance(refitted.named_steps["prep"], Pipeline)  # selection step included
    # The trials table and the parallel coordinates read the pipeline's parameters.
    frame = results.trials_frame([picked])
    assert frame.loc[0, "params"]["prep.encoding"] == PICKED[task]["prep.encoding"]
    from knobs.visualization._selection import params_varied_in_complete

    assert any(p.startswith(PREFIX) for p in params_varied_in_complete(trials))
    # Export and train.py, run without Knobs, predict exactly what the export predicts.
    _plan, source, _base = source_from_study(search.name, picked.number, storage=search.storage)
    bundle = tmp_path / "bundle"
    write_bundle(plan, source, "skops", bundle, data=csv)
    script = assert_train_py_reproduces(bundle, csv, source.fit_rows, tmp_path)
    assert "SelectPercentile(" in script
    if task == "regression":
        assert "score_func=f_regression" in script


# --- the Search page's switch -----------------------------------------------------------------


def test_search_page_switch_prices_the_grid_and_reaches_the_config(monkeypatch, tmp_path):
    """Parity with `--search-pipeline`: off by default; on, the grid preview counts the
    preprocessing choices (logistic 10 x 108, random forest 24 x 36)."""
    from streamlit.testing.v1 import AppTest

    from components import state

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    at = AppTest.from_file(str(root / "app.py"), default_timeout=90).run()
    at.switch_page("app_pages/search.py").run()
    assert not at.exception and not at.error
    switch = at.toggle(key=state.W_SEARCH_PIPELINE)
    assert switch.value is False
    at.toggle(key=state.W_AUTO_MODELS).set_value(False).run()
    at.radio(key=state.W_STRATEGY).set_value("grid").run()
    page = " ".join(m.value for m in at.markdown)
    assert "Grid: **34 combinations**" in page
    at.toggle(key=state.W_SEARCH_PIPELINE).set_value(True).run()
    assert not at.exception and not at.error
    page = " ".join(m.value for m in at.markdown)
    assert "Grid: **1944 combinations** + 2 defaults trials" in page
    assert "Estimated duration" in page


@pytest.mark.slow
def test_search_page_switch_starts_a_pipeline_search(monkeypatch):
    from streamlit.testing.v1 import AppTest

    import knobs
    from components import state

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    at = AppTest.from_file(str(root / "app.py"), default_timeout=90).run()
    at.switch_page("app_pages/search.py").run()
    at.toggle(key=state.W_AUTO_MODELS).set_value(False).run()
    at.multiselect(key=state.W_MODELS).set_value(["logistic"]).run()
    at.number_input(key=state.W_TRIALS).set_value(2).run()
    at.toggle(key=state.W_SEARCH_PIPELINE).set_value(True).run()
    at.button(key=state.W_START).click().run()
    assert not at.exception and not at.error
    search = knobs.Search.open(at.session_state["knobs.study"])
    try:
        assert search.plan.config.search_pipeline is True
    finally:
        search.stop()


def test_the_summary_names_every_choice():
    from knobs.pipelines import summary

    text = summary()
    for c in PREP_CHOICES:
        assert all(str(v) in text for v in c.param.choices), c.name
