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

import optuna

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
