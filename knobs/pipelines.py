"""The preprocessing a pipeline search explores, declared once, beside the model spaces.

With ``--search-pipeline`` (``SearchConfig.search_pipeline``) the preprocessing becomes part of
each trial: every :class:`PrepChoice` below is a study parameter named ``prep.<name>``, suggested
for the models it applies to, walked by the grid, shown in the trials table and the parallel
coordinates, refitted and exported with the trial. Each row's name is a keyword of
:func:`knobs.data.build_preprocessor`, and its values come from that module's tables
(``SCALERS``, ``ENCODINGS``, ``IMPUTATIONS``), so a new scaler is one line there and a new
choice is one row here (plus its keyword). Its ``default`` is what every other search does, so a
trial without ``prep.*`` parameters (the defaults trial, a study made without the switch) builds
exactly the fixed preprocessing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline

from knobs.data._preprocess import ENCODINGS, IMPUTATIONS, SCALERS
from knobs.errors import ConfigError
from knobs.models import ModelSpec, Param

#: Prefix of the preprocessing parameters in a study (model parameters carry the model's name).
PREFIX = "prep."


def _every_model(spec: ModelSpec) -> bool:
    return True


def _scaled_models(spec: ModelSpec) -> bool:
    return spec.scale


@dataclass(frozen=True)
class PrepChoice:
    """One preprocessing decision a pipeline search makes.

    ``param.name`` is the keyword of ``build_preprocessor`` it sets; ``default`` is that
    keyword's default (the fixed preprocessing); ``applies`` says which models it matters to
    (scaling only changes models that are fed scaled features: trees ignore it).
    """

    param: Param
    default: Any
    label: str
    applies: Callable[[ModelSpec], bool] = _every_model
    applies_to: str = "every model"

    @property
    def name(self) -> str:
        return self.param.name

    @property
    def key(self) -> str:
        """The study parameter's name: ``prep.encoding``."""
        return PREFIX + self.param.name


def _categorical(name: str, choices: tuple[Any, ...]) -> Param:
    return Param(name, "categorical", choices=choices, grid=choices)


PREP_CHOICES: tuple[PrepChoice, ...] = (
    PrepChoice(_categorical("encoding", tuple(ENCODINGS)), "onehot", "Categorical encoding"),
    PrepChoice(_categorical("impute", IMPUTATIONS), "median", "Numeric imputation"),
    PrepChoice(_categorical("missing_indicator", (True, False)), True, "Missing-value indicators"),
    PrepChoice(
        _categorical("scaler", tuple(SCALERS)), "standard", "Scaling",
        applies=_scaled_models, applies_to="models fed scaled features",
    ),
    # Share of the preprocessed features kept by a univariate F-test (1.0: no selection).
    PrepChoice(
        _categorical("keep_features", (1.0, 0.75, 0.5)), 1.0, "Share of features kept (F-test)"
    ),
)  # fmt: skip

PREP_REGISTRY: dict[str, PrepChoice] = {c.name: c for c in PREP_CHOICES}


def choices_for(spec: ModelSpec) -> tuple[PrepChoice, ...]:
    """The preprocessing choices that matter to ``spec``."""
    return tuple(c for c in PREP_CHOICES if c.applies(spec))


def prep_grid(spec: ModelSpec) -> dict[str, list[Any]]:
    """The pipeline's part of ``spec``'s grid: ``{"prep.encoding": [...], ...}``."""
    return {c.key: list(c.param.grid) for c in choices_for(spec) if c.param.grid}


def grid_for(spec: ModelSpec, search_pipeline: bool) -> dict[str, list[Any]]:
    """The grid GridSampler walks for ``spec``: its own, times the pipeline's when searched."""
    return {**spec.grid(), **prep_grid(spec)} if search_pipeline else spec.grid()


def grid_size_for(spec: ModelSpec, search_pipeline: bool) -> int:
    return math.prod(len(v) for v in grid_for(spec, search_pipeline).values())


def suggest_prep(
    trial: optuna.Trial, spec: ModelSpec, *, grid_only: bool = False
) -> dict[str, Any]:
    """Suggest the pipeline's choices for ``spec``; the keys keep their ``prep.`` prefix."""
    return {
        c.key: c.param.suggest(trial, c.key)
        for c in choices_for(spec)
        if c.param.grid or not grid_only
    }


def split_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial's parameters as (the model's, the preprocessing's keywords, unprefixed).

    An unknown ``prep.`` name is refused by name: it would otherwise be silently ignored and the
    pipeline would differ from the one the trial scored.
    """
    model: dict[str, Any] = {}
    prep: dict[str, Any] = {}
    for key, value in params.items():
        if not key.startswith(PREFIX):
            model[key] = value
            continue
        if key == TARGET_KEY:  # the target's, not the preprocessing's (``with_target``)
            continue
        name = key[len(PREFIX) :]
        if name not in PREP_REGISTRY:
            raise ConfigError(
                f"Unknown preprocessing parameter `{key}`; known: {[c.key for c in PREP_CHOICES]}."
            )
        prep[name] = value
    return model, prep


def prep_for(spec: ModelSpec, prep: Mapping[str, Any]) -> dict[str, Any]:
    """The choices in ``prep`` that apply to ``spec`` (a scaler means nothing to a tree)."""
    names = {c.name for c in choices_for(spec)}
    return {k: v for k, v in prep.items() if k in names}


def summary() -> str:
    """What a pipeline search varies, in one line (the Search page's help, the CLI's)."""
    return "; ".join(
        f"{c.label[0].lower() + c.label[1:]} ({', '.join(map(str, c.param.choices))}"
        + (f"; {c.applies_to}" if c.applies is not _every_model else "")
        + ")"
        for c in PREP_CHOICES
    )


# --- the target a regression model learns ----------------------------------------------------
#: The trial parameter that says what a regression model learns: the target as is (``none``)
#: or its logarithm (``log``, predictions mapped back with ``exp``). Not a ``PrepChoice``: it
#: depends on the target's values, not on the model, and it is tuned without a pipeline search.
TARGET_KEY = f"{PREFIX}target"
#: ``--target-transform``: ``auto`` lets the cross-validation choose where the log is possible.
TARGET_TRANSFORMS = ("auto", "none", "log")
#: How the Search page names each ``TARGET_TRANSFORMS`` setting.
TARGET_TRANSFORM_LABELS = {
    "auto": "Automatic: also try its log where it is above 0",
    "none": "The target as is",
    "log": "Its log (predictions mapped back)",
}


def target_transforms(
    y: Any, task: str, setting: str, *, target: str, tuned: bool = True
) -> tuple[tuple[str, ...], str | None]:
    """What trials may learn (``TARGET_KEY``'s choices) and the plan's notice saying so.

    Prices, incomes, durations and other strictly positive amounts are often multiplicative: a
    model that learns their log fits the relation and stops chasing the few largest values. On
    Knobs' house-price sample the log was better in every one of 8 splits' cross-validation for
    XGBoost; on scikit-learn's diabetes progression score it was worse in all 8. So ``auto``
    does not guess from the target's shape: on a positive target both are tried and the folds
    choose. ``tuned`` False (a grid search) keeps the target as is unless ``log`` is asked for.
    ``setting`` is one of ``TARGET_TRANSFORMS`` (``SearchConfig`` refuses any other).
    """
    if task != "regression" or setting == "none":
        return ("none",), None
    values = np.asarray(y, dtype=np.float64)
    low = values <= 0
    if setting == "log":
        if low.any():
            raise ConfigError(
                f"`--target-transform log` needs `{target}` above 0 in every row, but "
                f"{int(low.sum()):,} row(s) are 0 or below (lowest {values.min():g}); use "
                "`auto` or `none`."
            )
        return ("log",), (
            f"Models learn log(`{target}`) and predict exp of it (`--target-transform log`)."
        )
    if low.any() or not tuned:
        return ("none",), None
    return ("none", "log"), (
        f"`{target}` is above 0 in every row: trials also try learning its log "
        f"(`{TARGET_KEY}`), and the cross-validation chooses; `--target-transform none` keeps "
        "it as is."
    )


def default_target(choices: tuple[str, ...]) -> str:
    """What a trial without ``TARGET_KEY`` learns (the defaults trial, a grid point)."""
    return choices[0] if len(choices) == 1 else "none"


#: Each transform other than ``none``: (the function a model learns the target through, its
#: inverse that maps predictions back). The wrapper and the folds' own fits both read it.
_TARGET_FUNCTIONS = {"log": (np.log, np.exp)}


def learned_target(transform: str, y: Any) -> Any:
    """The values a model learns from, for the target ``y``."""
    return _TARGET_FUNCTIONS[transform][0](y) if transform != "none" else y


def predicted_target(transform: str, pred: np.ndarray) -> np.ndarray:
    """A model's predictions mapped back to the target's own scale."""
    return _TARGET_FUNCTIONS[transform][1](pred) if transform != "none" else pred


def with_target(pipeline: Pipeline, transform: str) -> Pipeline | TransformedTargetRegressor:
    """``pipeline``, learning ``transform`` of the target: scikit-learn's own wrapper, so the
    exported model predicts on the target's scale and reloads without Knobs."""
    if transform == "none":
        return pipeline
    func, inverse = _TARGET_FUNCTIONS[transform]
    return TransformedTargetRegressor(
        regressor=pipeline, func=func, inverse_func=inverse, check_inverse=False
    )


def target_of(estimator: Any) -> str:
    """What ``estimator`` (from :func:`with_target`) learns: ``none`` or ``log``."""
    return "log" if isinstance(estimator, TransformedTargetRegressor) else "none"


def pipeline_of(estimator: Any) -> Any:
    """The pipeline inside a :func:`with_target` wrapper (the fitted one once it is fitted):
    what explanations, slimming and fine-tuning work on."""
    if not isinstance(estimator, TransformedTargetRegressor):
        return estimator
    return getattr(estimator, "regressor_", estimator.regressor)
