"""The model registry: every estimator Knobs can tune, and its search space, declared once.

Each :class:`ModelSpec` holds the constructor and the space beside each other (FLAML's idea), so the
CLI, the dashboard's space editor, the grid size and the baseline trial all read the same data.
Parameter names in a study are prefixed with the model's short name (``xgboost.max_depth``) because
one study may search several families at once and Optuna keys parameters by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import optuna
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet, ElasticNetCV, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.svm import SVC, SVR

from knobs.errors import ConfigError

Task = Literal["binary", "multiclass", "regression"]
ParamKind = Literal["int", "float", "categorical"]
CLASSIFICATION: frozenset[str] = frozenset({"binary", "multiclass"})
REGRESSION: frozenset[str] = frozenset({"regression"})
ALL_TASKS: frozenset[str] = CLASSIFICATION | REGRESSION
BINARY: frozenset[str] = frozenset({"binary"})


@dataclass(frozen=True)
class Param:
    """One tunable hyperparameter: its range for samplers and its values for the grid.

    ``grid`` may be empty: the parameter then keeps the estimator's default under grid search,
    which keeps grids small enough to finish (the size is printed before a grid search starts).
    """

    name: str
    kind: ParamKind
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    grid: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "categorical":
            if not self.choices:
                raise ConfigError(f"Parameter `{self.name}` is categorical but has no choices.")
            bad = [v for v in self.grid if v not in self.choices]
        else:
            if self.low is None or self.high is None or not self.low <= self.high:
                raise ConfigError(
                    f"Parameter `{self.name}`: `low <= high` must hold, but got "
                    f"(low={self.low}, high={self.high})."
                )
            if self.log and self.low <= 0:
                raise ConfigError(
                    f"Parameter `{self.name}` is on a log scale, so `low` must be > 0, "
                    f"but got low={self.low}."
                )
            bad = [v for v in self.grid if not self.low <= v <= self.high]
        if bad:
            raise ConfigError(
                f"Parameter `{self.name}`: grid values {bad} lie outside its range "
                f"{self.describe_range()}; widen the range or change the grid."
            )

    def describe_range(self) -> str:
        if self.kind == "categorical":
            return "{" + ", ".join(map(str, self.choices)) + "}"
        scale = ", log" if self.log else ""
        return f"[{self.low:g}, {self.high:g}{scale}]"

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)
        return optuna.distributions.CategoricalDistribution(self.choices)

    def suggest(self, trial: optuna.Trial, key: str) -> Any:
        if self.kind == "int":
            return trial.suggest_int(key, int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return trial.suggest_float(key, self.low, self.high, log=self.log)
        return trial.suggest_categorical(key, self.choices)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "choices": list(self.choices),
            "grid": list(self.grid),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Param:
        return cls(
            name=data["name"],
            kind=data["kind"],
            low=data.get("low"),
            high=data.get("high"),
            log=bool(data.get("log", False)),
            choices=tuple(data.get("choices") or ()),
            grid=tuple(data.get("grid") or ()),
        )


Builder = Callable[[str, dict[str, Any], int, int], BaseEstimator]

#: Rounds without improvement on the inner validation slice before a boosted model stops.
PATIENCE = 20


@dataclass(frozen=True)
class Boosting:
    """How a boosted family stops early, declared beside its space.

    ``rounds`` names the parameter that counts rounds (trees, iterations, epochs): tuned, it is a
    cap, not a target. ``fit`` trains with early stopping on an inner validation slice (the fold's
    scored rows never steer it) and returns the round count that scored best there; ``fixed``
    turns tuned parameters into those of a refit with a fixed round count (no validation slice:
    the refit learns from every training row).
    """

    rounds: str
    fit: Callable[[BaseEstimator, Any, Any, Any, Any], int]
    fixed: Callable[[dict[str, Any], int], dict[str, Any]]
    #: The estimator holds out its own slice of the rows it is given (``fit`` gets no slice).
    own_slice: bool = False


def _fit_xgboost(model: BaseEstimator, X: Any, y: Any, X_val: Any, y_val: Any) -> int:
    model.set_params(early_stopping_rounds=PATIENCE)
    model.fit(X, y, eval_set=[(X_val, y_val)], verbose=False)
    return int(model.best_iteration) + 1


def _fit_hist_gb(model: BaseEstimator, X: Any, y: Any, X_val: Any, y_val: Any) -> int:
    model.set_params(early_stopping=True, n_iter_no_change=PATIENCE)
    model.fit(X, y, X_val=X_val, y_val=y_val)
    # validation_score_[i] is the score after i iterations (higher is better, losses negated).
    return max(1, int(np.argmax(model.validation_score_)))


def _fit_mlp(model: BaseEstimator, X: Any, y: Any, X_val: Any, y_val: Any) -> int:
    # The MLP holds out its own slice (validation_fraction) of the rows it is given, which are
    # the fold's training rows: the scored rows still never steer it. It keeps its best weights.
    model.set_params(early_stopping=True, n_iter_no_change=PATIENCE)
    model.fit(X, y)
    return int(np.argmax(model.validation_scores_)) + 1


def _fixed(rounds_param: str, **off: Any) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    def fixed(params: dict[str, Any], rounds: int) -> dict[str, Any]:
        return {**params, rounds_param: int(rounds), **off}

    return fixed


XGBOOST_BOOSTING = Boosting("n_estimators", _fit_xgboost, _fixed("n_estimators"))
HIST_GB_BOOSTING = Boosting("max_iter", _fit_hist_gb, _fixed("max_iter", early_stopping=False))
MLP_BOOSTING = Boosting(
    "max_iter", _fit_mlp, _fixed("max_iter", early_stopping=False), own_slice=True
)


@dataclass(frozen=True)
class ModelSpec:
    """A model family: how to build it for a task, and what to tune.

    ``build(task, params, seed, n_jobs)`` returns an unfitted estimator; ``params`` holds only the
    tuned values (unprefixed), everything else stays at the library default, so an empty dict is
    the "defaults" baseline.
    """

    name: str
    label: str
    tasks: frozenset[str]
    build: Builder
    params: tuple[Param, ...]
    scale: bool = False
    max_rows: int | None = None
    aliases: tuple[str, ...] = ()
    notes: str = ""
    #: How the family stops early (boosted and iterative models); None: it always runs to the end.
    boosting: Boosting | None = None
    #: Known-good settings tried right after the defaults trial (tuned parameters, unprefixed).
    starts: tuple[Mapping[str, Any], ...] = ()
    #: A linear model: the one a search delivers when it is as good as the best trial within one
    #: standard error of its folds (``knobs.study.delivered_trial``).
    linear: bool = False
    #: The parameter a fit's time grows in proportion to (a forest's trees): a queued
    #: configuration's time is its family's pace scaled by it (``knobs.study.worker``).
    size: str | None = None
    #: Its defaults grow trees to full depth, so a fit's time grows faster than the rows: on a
    #: large table its openers wait until the quicker families' have run (``enqueue_openers``).
    slow_on_large: bool = False
    #: ``auto`` races it only on a wide table (:func:`is_wide`): the sparse linear models, which
    #: win there and cost trials elsewhere (on diabetes, 442 rows x 10 columns, at 6 s, the held-
    #: out R² went from 0.435 to 0.417 over four runs when they raced).
    wide_only: bool = False

    def key(self, param: str) -> str:
        """The Optuna parameter name of one of this model's parameters."""
        return f"{self.name}.{param}"

    def grid(self) -> dict[str, list[Any]]:
        """The grid GridSampler walks for this model alone (the ``model`` choice included)."""
        grid: dict[str, list[Any]] = {"model": [self.name]}
        for p in self.params:
            if p.grid:
                grid[self.key(p.name)] = list(p.grid)
        return grid

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def with_params(self, params: Iterable[Param]) -> ModelSpec:
        """The same model with some parameters replaced (the dashboard's space editor)."""
        by_name = {p.name: p for p in params}
        unknown = set(by_name) - {p.name for p in self.params}
        if unknown:
            raise ConfigError(
                f"Model `{self.name}` has no parameter(s) {sorted(unknown)}; "
                f"it has {[p.name for p in self.params]}."
            )
        return replace(self, params=tuple(by_name.get(p.name, p) for p in self.params))

    def valid_starts(self) -> list[dict[str, Any]]:
        """The declared starting points that fit this space (a user's edit may exclude some)."""
        space = {p.name: p for p in self.params}
        return [dict(s) for s in self.starts if all(_within(space.get(k), v) for k, v in s.items())]

    def start_points(self) -> list[dict[str, Any]]:
        """The valid starts as a study's points (``model`` and prefixed parameter names), the
        form queued trials and stored trials compare in."""
        return [
            {"model": self.name, **{self.key(k): v for k, v in s.items()}}
            for s in self.valid_starts()
        ]

    def estimator(
        self, task: str, params: Mapping[str, Any], seed: int = 0, n_jobs: int = 1
    ) -> BaseEstimator:
        return self.build(task, dict(params), seed, n_jobs)


def _within(param: Param | None, value: Any) -> bool:
    if param is None:
        return False
    if param.kind == "categorical":
        return value in param.choices
    return param.low <= value <= param.high


# --- builders -------------------------------------------------------------------------------
# Module-level functions, not lambdas: specs must be importable by name in worker processes.


def _is_clf(task: str) -> bool:
    return task in CLASSIFICATION


def _logistic(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    return LogisticRegression(max_iter=2000, random_state=seed, **p)


def _sparse_logistic(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    # liblinear's L1 path: 0.1 s where saga took 9 s on 240 rows x 1,500 columns (two classes
    # only, which is why the family is binary).
    return LogisticRegression(l1_ratio=1.0, solver="liblinear", random_state=seed, **p)


def _ridge(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    return Ridge(random_state=seed, **p)


def _elastic_net(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    return ElasticNet(max_iter=5000, random_state=seed, **p)


def _sparse_linear(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    # The penalty's strength is chosen along its path by an inner 3-fold CV on the rows it is
    # given, so it follows the target's scale and the table's width with no tuning: a fixed
    # alpha means nothing across targets in dollars and in fractions.
    return ElasticNetCV(cv=3, max_iter=5000, random_state=seed, n_jobs=n_jobs, **p)


def _random_forest(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    cls = RandomForestClassifier if _is_clf(task) else RandomForestRegressor
    return cls(random_state=seed, n_jobs=n_jobs, **p)


def _extra_trees(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    cls = ExtraTreesClassifier if _is_clf(task) else ExtraTreesRegressor
    return cls(random_state=seed, n_jobs=n_jobs, **p)


def _hist_gb(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    cls = HistGradientBoostingClassifier if _is_clf(task) else HistGradientBoostingRegressor
    return cls(random_state=seed, **p)


def _knn(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    cls = KNeighborsClassifier if _is_clf(task) else KNeighborsRegressor
    return cls(n_jobs=n_jobs, **p)


def _svm(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    if _is_clf(task):
        # probability=True costs an internal 5-fold CV; decision_function serves ROC AUC and
        # accuracy, so probabilities are only switched on when a metric needs them.
        return SVC(random_state=seed, **p)
    return SVR(**p)


#: The MLP's ``schedule`` choices: Adam adapts each weight's step itself; the others are SGD
#: (with Nesterov momentum) under scikit-learn's learning-rate schedules.
MLP_SCHEDULES = ("adam", "constant", "invscaling", "adaptive")


def _mlp(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    """``width`` is the first layer's width (and every layer's, in studies made before per-layer
    widths: ``width_2``/``width_3`` then default to it); ``schedule`` picks the solver too."""
    p = dict(p)
    layers = int(p.pop("n_layers", 1))
    width = p.pop("width", None)
    deeper = [p.pop(f"width_{k}", None) for k in (2, 3)]
    if width is not None:
        sizes = [int(width), *(int(w if w is not None else width) for w in deeper)]
        sizes += [int(width)] * max(0, layers - len(sizes))
        p["hidden_layer_sizes"] = tuple(sizes[:layers])
    schedule = p.pop("schedule", None)
    if schedule is not None and schedule != "adam":
        p.update(solver="sgd", learning_rate=schedule)
    cls = MLPClassifier if _is_clf(task) else MLPRegressor
    # The refit of an early-stopped trial fixes `max_iter` and turns early stopping off.
    return cls(random_state=seed, **{"max_iter": 400, "early_stopping": True, **p})


def _xgboost(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    from xgboost import XGBClassifier, XGBRegressor  # heavy import, only when used

    cls = XGBClassifier if _is_clf(task) else XGBRegressor
    return cls(random_state=seed, n_jobs=n_jobs, tree_method="hist", verbosity=0, **p)


#: Whether classes are weighted by their rarity: the logistic regressions' shared choice.
_CLASS_WEIGHT = Param(
    "class_weight", "categorical", choices=(None, "balanced"), grid=(None, "balanced")
)
_SPARSE_NOTES = "Keeps few columns when few matter: the model for tables with more columns than rows."


def _forest_params() -> tuple[Param, ...]:
    return (
        Param("n_estimators", "int", 50, 500, log=True, grid=(100, 300)),
        Param("max_depth", "int", 2, 40, log=True, grid=(8, 16, 32)),
        Param("min_samples_leaf", "int", 1, 32, log=True, grid=(1, 4)),
        Param("max_features", "float", 0.05, 1.0, grid=(0.3, 0.7)),
    )


_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="logistic",
        label="Logistic regression",
        tasks=CLASSIFICATION,
        build=_logistic,
        scale=True,
        linear=True,
        aliases=("linear",),
        params=(
            Param("C", "float", 1e-3, 1e3, log=True, grid=(0.01, 0.1, 1.0, 10.0, 100.0)),
            _CLASS_WEIGHT,
        ),
        starts=({"C": 0.1, "class_weight": None},),
    ),
    ModelSpec(
        name="sparse_logistic",
        label="Sparse logistic regression (L1)",
        tasks=BINARY,
        build=_sparse_logistic,
        scale=True,
        linear=True,
        aliases=("l1_logistic",),
        notes=_SPARSE_NOTES,
        wide_only=True,
        params=(
            # above C = 10 the penalty hardly acts (nothing sparse left) and liblinear's L1 path
            # slows: C = 100 took 19 s on 24,000 rows where C = 0.1 took 0.3 s
            Param("C", "float", 1e-3, 10.0, log=True, grid=(0.01, 0.1, 1.0, 10.0)),
            _CLASS_WEIGHT,
        ),
        starts=({"C": 0.1, "class_weight": None},),
    ),
    ModelSpec(
        name="linear",
        label="Ridge regression",
        tasks=REGRESSION,
        build=_ridge,
        scale=True,
        linear=True,
        aliases=("logistic", "ridge"),
        params=(Param("alpha", "float", 1e-3, 1e3, log=True, grid=(0.01, 0.1, 1.0, 10.0, 100.0)),),
    ),
    ModelSpec(
        name="elastic_net",
        label="Elastic net",
        tasks=REGRESSION,
        build=_elastic_net,
        scale=True,
        linear=True,
        params=(
            Param("alpha", "float", 1e-4, 10.0, log=True, grid=(0.001, 0.01, 0.1, 1.0)),
            Param("l1_ratio", "float", 0.05, 1.0, grid=(0.1, 0.5, 0.9)),
        ),
    ),
    ModelSpec(
        name="sparse_linear",
        label="Sparse linear (elastic net, penalty by inner CV)",
        tasks=REGRESSION,
        build=_sparse_linear,
        scale=True,
        linear=True,
        aliases=("lasso",),
        notes=_SPARSE_NOTES,
        wide_only=True,
        params=(Param("l1_ratio", "float", 0.05, 1.0, grid=(0.1, 0.5, 0.9, 1.0)),),
        starts=({"l1_ratio": 1.0},),
    ),
    ModelSpec(
        "random_forest", "Random forest", ALL_TASKS, _random_forest, _forest_params(),
        starts=({"n_estimators": 300, "max_depth": 40, "min_samples_leaf": 1, "max_features": 0.5},),
        size="n_estimators",
        slow_on_large=True,
    ),
    ModelSpec(
        "extra_trees", "Extra trees", ALL_TASKS, _extra_trees, _forest_params(),
        size="n_estimators", slow_on_large=True,
    ),
    ModelSpec(
        name="hist_gb",
        label="Histogram gradient boosting",
        tasks=ALL_TASKS,
        build=_hist_gb,
        boosting=HIST_GB_BOOSTING,
        params=(
            Param("learning_rate", "float", 0.01, 0.5, log=True, grid=(0.03, 0.1, 0.3)),
            Param("max_leaf_nodes", "int", 4, 128, log=True, grid=(15, 31, 63)),
            Param("min_samples_leaf", "int", 2, 200, log=True, grid=(10, 40)),
            Param("l2_regularization", "float", 1e-6, 10.0, log=True, grid=(1e-6, 1.0)),
            Param("max_iter", "int", 50, 1000, log=True),
        ),
        starts=(
            {"learning_rate": 0.05, "max_leaf_nodes": 31, "min_samples_leaf": 20,
             "l2_regularization": 1e-3, "max_iter": 1000},
            {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 40,
             "l2_regularization": 1.0, "max_iter": 500},
        ),
    ),
    ModelSpec(
        name="knn",
        label="k-nearest neighbours",
        tasks=ALL_TASKS,
        build=_knn,
        scale=True,
        params=(
            Param("n_neighbors", "int", 1, 100, log=True, grid=(3, 7, 15, 31)),
            Param(
                "weights",
                "categorical",
                choices=("uniform", "distance"),
                grid=("uniform", "distance"),
            ),
            Param("p", "categorical", choices=(1, 2), grid=(1, 2)),
        ),
    ),
    ModelSpec(
        name="svm",
        label="Support vector machine",
        tasks=ALL_TASKS,
        build=_svm,
        scale=True,
        max_rows=20_000,
        notes="Kernel SVMs scale quadratically with rows: refused above 20,000 training rows.",
        params=(
            Param("C", "float", 1e-2, 1e3, log=True, grid=(0.1, 1.0, 10.0, 100.0)),
            Param("gamma", "float", 1e-4, 1.0, log=True, grid=(1e-3, 1e-2, 1e-1)),
        ),
    ),
    ModelSpec(
        name="mlp",
        label="Multi-layer perceptron",
        tasks=ALL_TASKS,
        build=_mlp,
        scale=True,
        boosting=MLP_BOOSTING,
        # Per-layer widths: `width` is the first layer's (the name older studies stored for
        # every layer's); `width_2`/`width_3` are sampled always (every trial has the same
        # space) and used only by a second/third layer; grid search keeps one width for all.
        params=(
            Param("n_layers", "int", 1, 3, grid=(1, 2)),
            Param("width", "int", 16, 256, log=True, grid=(32, 128)),
            Param("width_2", "int", 8, 256, log=True),
            Param("width_3", "int", 8, 256, log=True),
            Param("activation", "categorical", choices=("relu", "tanh", "logistic")),
            Param("alpha", "float", 1e-6, 1e-1, log=True, grid=(1e-4, 1e-2)),
            Param("learning_rate_init", "float", 1e-4, 1e-2, log=True),
            Param("batch_size", "int", 16, 512, log=True),
            Param("schedule", "categorical", choices=MLP_SCHEDULES),
        ),
    ),
    ModelSpec(
        name="xgboost",
        label="XGBoost",
        tasks=ALL_TASKS,
        build=_xgboost,
        boosting=XGBOOST_BOOSTING,
        starts=(
            {"n_estimators": 1000, "max_depth": 6, "learning_rate": 0.05, "subsample": 0.8,
             "colsample_bytree": 0.8, "min_child_weight": 1.0, "reg_lambda": 1.0},
            {"n_estimators": 1000, "max_depth": 3, "learning_rate": 0.1, "subsample": 0.9,
             "colsample_bytree": 0.7, "min_child_weight": 3.0, "reg_lambda": 3.0},
        ),
        params=(
            Param("n_estimators", "int", 50, 1000, log=True, grid=(100, 300)),
            Param("max_depth", "int", 2, 12, grid=(3, 6, 9)),
            Param("learning_rate", "float", 0.01, 0.3, log=True, grid=(0.05, 0.1, 0.3)),
            Param("subsample", "float", 0.5, 1.0, grid=(0.8, 1.0)),
            Param("colsample_bytree", "float", 0.5, 1.0, grid=(0.8, 1.0)),
            Param("min_child_weight", "float", 0.5, 20.0, log=True),
            Param("reg_lambda", "float", 1e-3, 10.0, log=True),
        ),
    ),
)

REGISTRY: dict[str, ModelSpec] = {s.name: s for s in _SPECS}

#: ``--models auto`` (the default): the families raced for the budget (``knobs.study._families``),
#: cheapest first; each task keeps those that can learn it. ``all`` is every family. The sparse
#: linear models are there for wide tables: on 240 rows x 1,500 columns, where a target hangs on
#: three of them, the sparse regression scores a test R^2 of 0.94 in a second, where the ridge's
#: scored 0.04 and every tree family's defaults took 2 to 7 s a fold for 0.7 to 0.8; the L1
#: logistic regression a CV AUC of 0.93 where the L2 one scored 0.60.
AUTO_FAMILIES = (
    "logistic", "sparse_logistic", "linear", "sparse_linear",
    "random_forest", "extra_trees", "hist_gb", "xgboost",
)  # fmt: skip
AUTO = "auto"
#: A table with at least one feature column for every this many rows is wide.
WIDE_ROWS_PER_COLUMN = 5


def is_wide(n_rows: int, n_columns: int) -> bool:
    """Whether a table is wide enough for ``auto`` to race the sparse linear families
    (``ModelSpec.wide_only``): many columns for its rows, few of which may matter."""
    return n_columns * WIDE_ROWS_PER_COLUMN >= n_rows


def model_names(task: str | None = None) -> list[str]:
    """Short names of the models that can learn ``task`` (all models when None)."""
    return [s.name for s in _SPECS if task is None or task in s.tasks]


def get_model(name: str, task: str | None = None) -> ModelSpec:
    """Look a model up by short name or alias, for a task.

    ``logistic`` and ``linear`` are the same idea for two tasks, so each resolves to the other
    when asked for the wrong task instead of failing.
    """
    key = name.strip().lower().replace("-", "_")
    candidates = [s for s in _SPECS if key == s.name or key in s.aliases]
    if task is not None:
        fitting = [s for s in candidates if task in s.tasks]
        exact = [s for s in fitting if s.name == key]
        if exact or fitting:
            return (exact or fitting)[0]
        if candidates:
            raise ConfigError(
                f"Model `{name}` cannot learn a {task} task; choose from {model_names(task)}."
            )
    elif candidates:
        exact = [s for s in candidates if s.name == key]
        return (exact or candidates)[0]
    raise ConfigError(
        f"Unknown model `{name}`. Known models: {', '.join(model_names(task))} (or `all`)."
    )


def resolve_models(
    names: str | Sequence[str] | None, task: str, *, wide: bool | None = None
) -> tuple[ModelSpec, ...]:
    """Turn ``"all"``, ``"xgboost,random_forest"`` or a list into specs for ``task``, in order.

    ``wide`` (:func:`is_wide` of the table) keeps ``auto``'s wide-only families or drops them;
    None (no table in view) keeps them."""
    if names is None:
        names = [AUTO]
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    if not names:
        raise ConfigError("No model chosen: pass at least one model name, or `all`.")
    if any(n.strip().lower() == "all" for n in names):
        return tuple(REGISTRY[n] for n in model_names(task))
    if any(n.strip().lower() == AUTO for n in names):
        return tuple(
            REGISTRY[n] for n in AUTO_FAMILIES
            if task in REGISTRY[n].tasks and (wide is not False or not REGISTRY[n].wide_only)
        )  # fmt: skip
    specs: list[ModelSpec] = []
    for n in names:
        spec = get_model(n, task)
        if spec not in specs:
            specs.append(spec)
    return tuple(specs)
