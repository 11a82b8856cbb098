"""``--models auto``: the budget goes to the families that lead, and stops for those that lose."""

from __future__ import annotations

import collections

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from knobs.config import SearchConfig
from knobs.metrics import MAXIMIZE
from knobs.models import AUTO_FAMILIES, REGISTRY, resolve_models
from knobs.study._families import next_family
from knobs.study.keys import CV, FAMILIES

FAMILIES_ = ("a", "b", "c", "d")


def _run(score: dict[str, float | None], n: int, spread: float = 0.001) -> collections.Counter:
    """Spend ``n`` tuned trials with ``next_family``; each family scores what ``score`` says
    (None: its every trial fails), its folds ``spread`` apart."""
    study = optuna.create_study(direction="maximize")
    dist = {"model": CategoricalDistribution(list(FAMILIES_))}
    spent: collections.Counter = collections.Counter()
    for i in range(n):
        family = next_family(study, FAMILIES_, MAXIMIZE)
        spent[family] += 1
        value = score[family]
        if value is None:
            trial = optuna.trial.create_trial(
                params={"model": family}, distributions=dist, state=TrialState.FAIL
            )
        else:
            value += 0.001 * (i % 3)
            trial = optuna.trial.create_trial(
                params={"model": family}, distributions=dist, value=value,
                user_attrs=CV.attr({"fold_scores": [value - spread, value + spread] * 2}),
            )  # fmt: skip
        study.add_trial(trial)
    return spent


def test_the_leading_family_gets_most_of_the_budget_and_laggards_stop() -> None:
    spent = _run({"a": 0.60, "b": 0.90, "c": 0.70, "d": 0.85}, 40)
    assert spent.most_common(1)[0][0] == "b"
    assert spent["b"] >= 20
    # dropped after the first rung; back for their patience (4 trials: no parameters) once b
    # stalls, as its scores do here
    assert spent["a"] <= 4 and spent["c"] <= 4


def test_a_family_that_cannot_learn_the_task_stops_getting_trials() -> None:
    spent = _run({"a": None, "b": 0.8, "c": 0.7, "d": 0.75}, 30)
    assert spent["a"] == 1  # its one rung-0 trial failed: no more


def test_families_within_the_noise_of_the_leader_stay_in() -> None:
    spent = _run({"a": 0.800, "b": 0.8005, "c": 0.7995, "d": 0.8002}, 24, spread=0.02)
    assert min(spent.values()) >= 3  # nobody is clearly behind: nobody is dropped early


def test_the_decisions_are_stored_on_the_study_for_every_worker() -> None:
    study = optuna.create_study(direction="maximize")
    next_family(study, FAMILIES_, MAXIMIZE)
    assert FAMILIES.get(study)["alive"] == list(FAMILIES_)


def test_auto_is_the_default_and_keeps_the_families_that_fit_the_task() -> None:
    assert SearchConfig(target="y").models == ("auto",)
    names = [s.name for s in resolve_models("auto", "regression")]
    assert "logistic" not in names and "linear" in names
    assert names == [n for n in AUTO_FAMILIES if "regression" in REGISTRY[n].tasks]


def _spend(study: optuna.Study, models: tuple[str, ...], score, n: int) -> collections.Counter:
    """Spend ``n`` tuned trials with ``next_family``; ``score(family, k)`` is the family's k-th
    trial's CV score; a family's trials carry ``dims[family]`` searched parameters."""
    dims = {"ridge": 1, "xgb": 7, "forest": 4}
    spent: collections.Counter = collections.Counter()
    for _ in range(n):
        family = next_family(study, models, MAXIMIZE)
        value = score(family, spent[family])
        spent[family] += 1
        params = {"model": family} | {f"{family}.p{j}": 0.5 for j in range(dims[family])}
        dists = {"model": CategoricalDistribution(list(models))} | {
            f"{family}.p{j}": FloatDistribution(0, 1) for j in range(dims[family])
        }
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=dists, value=value,
            user_attrs=CV.attr({"fold_scores": [value - 0.002, value + 0.002] * 2}),
        ))  # fmt: skip
    return spent


def test_a_lone_family_that_stalls_gives_the_unexplored_runner_up_a_rung() -> None:
    """The house-price case: ridge's one penalty is flat at 0.832 from its first trial; XGBoost
    starts lower (0.80) but climbs 0.005 a trial to 0.86. Without the revival, ridge wins the
    early rungs and takes everything; with it, XGBoost comes back, takes the lead, and once it
    stalls too the forest gets the trials its space needs (2 per parameter), once."""
    models = ("ridge", "xgb", "forest")
    curves = {"ridge": lambda k: 0.832, "xgb": lambda k: min(0.86, 0.80 + 0.005 * k),
              "forest": lambda k: 0.76}  # fmt: skip
    study = optuna.create_study(direction="maximize")
    spent = _spend(study, models, lambda m, k: curves[m](k), 60)
    assert study.best_trial.params["model"] == "xgb"
    assert spent["xgb"] > spent["ridge"] + spent["forest"]
    assert spent["forest"] == 8  # 4 parameters: its patience, and no more
    state = FAMILIES.get(study)
    assert state["revived"] == ["xgb", "forest"] and state["alive"] == ["xgb"]


def test_a_family_comes_back_once_and_only_up_to_its_patience() -> None:
    models = ("ridge", "xgb")
    study = optuna.create_study(direction="maximize")
    spent = _spend(study, models, lambda m, k: 0.90 if m == "xgb" else 0.70, 50)
    assert spent["ridge"] == 4  # one parameter: STALL_MIN tuned trials in all, once
    assert FAMILIES.get(study)["revived"] == ["ridge"]
    assert spent["xgb"] == 46


def test_a_leader_that_keeps_improving_keeps_the_budget() -> None:
    models = ("ridge", "xgb")
    study = optuna.create_study(direction="maximize")
    spent = _spend(study, models, lambda m, k: 0.5 + 0.01 * k if m == "xgb" else 0.45, 40)
    assert spent["ridge"] == 1 and not FAMILIES.get(study).get("revived")


def test_a_stalled_family_stops_taking_its_rungs_while_another_still_improves() -> None:
    """The house-price case with both families alive: ridge's penalty converged at 0.838 (its
    folds spread enough that XGBoost, climbing from 0.81, stays within the noise); ridge keeps
    its place in the ranking but, once stalled, its rungs go to XGBoost instead of repeating
    0.838."""
    models = ("ridge", "xgb")
    study = optuna.create_study(direction="maximize")

    def score(family: str, k: int) -> float:
        return 0.838 if family == "ridge" else 0.81 + 0.001 * k

    spent = collections.Counter()
    for _ in range(40):
        family = next_family(study, models, MAXIMIZE)
        value = score(family, spent[family])
        spent[family] += 1
        spread = 0.03 if family == "ridge" else 0.002  # ridge's folds disagree: a wide noise
        params = {"model": family, f"{family}.p": 0.5}
        dists = {"model": CategoricalDistribution(list(models)), f"{family}.p": FloatDistribution(0, 1)}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=dists, value=value,
            user_attrs=CV.attr({"fold_scores": [value - spread, value + spread] * 2}),
        ))  # fmt: skip
    assert spent["ridge"] == 5  # its first and its patience (STALL_MIN), then none while XGBoost climbs
    assert spent["xgb"] == 35


def test_on_a_large_table_the_forests_openers_wait_for_the_quick_families(monkeypatch, tmp_path):
    """On 160,000 rows a random forest's and extra trees' defaults held both workers for a whole
    60 s budget and were cut mid-fold; logistic's defaults were the only trial scored, and the
    boosted families never ran. On a large table the forests now queue after the quick
    families' defaults and starts; on a small one the order is the registry's."""
    import pandas as pd

    import knobs.study._search as search_module
    from knobs.study import Search
    from knobs.study.keys import BASELINE
    from tests.conftest import make_table

    monkeypatch.setenv("KNOBS_HOME", str(tmp_path))
    frame = make_table("binary", n=300)

    def openers(name: str) -> list[tuple[str, bool]]:
        config = SearchConfig(target="label", cv=2, n_trials=40, seed=0)
        study = Search.create(pd.DataFrame(frame), config, name=name).study
        return [
            (t.system_attrs["fixed_params"]["model"], bool(BASELINE.get(t)))
            for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
        ]

    small = openers("small")
    assert [m for m, defaults in small if defaults] == [
        s.name for s in resolve_models("auto", "binary", wide=False)
    ]
    monkeypatch.setattr(search_module, "LARGE_TABLE_ROWS", 100)
    large = openers("large")
    first_forest = next(i for i, (m, _) in enumerate(large) if m in ("random_forest", "extra_trees"))
    assert {m for m, _ in large[:first_forest]} == {"logistic", "hist_gb", "xgboost"}
    assert all(m in ("random_forest", "extra_trees") for m, _ in large[first_forest:])
    assert sorted(large) == sorted(small)  # the same openers, in another order


def test_on_a_wide_table_auto_tries_a_sparse_linear_model_early(monkeypatch, tmp_path) -> None:
    """On 240 rows x 1,500 columns whose target hangs on three of them, `auto` delivered the
    ridge's defaults at a test R^2 of 0.10 in 30 s: ridge cannot drop columns, and every tree
    family's defaults took 2 to 7 s a fold. The sparse linear family (an elastic net whose
    penalty an inner CV picks) is among auto's openers, right after the ridge."""
    import numpy as np
    import pandas as pd

    import knobs

    monkeypatch.setenv("KNOBS_HOME", str(tmp_path))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(150, 400)), columns=[f"g{i}" for i in range(400)])
    frame["y"] = 2 * frame["g0"] + frame["g1"] - frame["g2"] + rng.normal(0, 0.5, 150)
    names = [s.name for s in resolve_models("auto", "regression")]
    assert names[:2] == ["linear", "sparse_linear"]
    result = knobs.tune(frame, "y", n_trials=2, cv=3, workers=1, ensemble=False)
    assert result.best_model == "sparse_linear"
    assert result.best_score > 0.8 and result.test_score > 0.8
    ridge = result.trials[result.trials["model"] == "linear"]["value"].iloc[0]
    assert ridge < 0.5
    # on a narrow table they do not race: they cost a tiny budget trials elsewhere
    assert [s.name for s in resolve_models("auto", "regression", wide=False)][:2] == [
        "linear", "random_forest"
    ]
    assert knobs.tune(frame.iloc[:, [0, 1, 2, -1]], "y", n_trials=1, cv=3, workers=1,
                      ensemble=False).plan.models[:2] == ("linear", "random_forest")  # fmt: skip
    # the same for two classes: an L1 logistic regression right after the L2 one
    frame["y"] = np.where(frame["y"] > 0, "sick", "well")
    assert [s.name for s in resolve_models("auto", "binary")][:2] == ["logistic", "sparse_logistic"]
    result = knobs.tune(frame, "y", n_trials=2, cv=3, workers=1, ensemble=False)
    done = result.trials[result.trials["state"] == "COMPLETE"]
    scores = done.set_index("model")["value"]
    assert result.best_model == "sparse_logistic" and scores["sparse_logistic"] > 0.85
    assert scores["logistic"] < scores["sparse_logistic"] - 0.1
