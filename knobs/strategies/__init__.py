"""Search strategies, declared once: each is an Optuna sampler plugged into the same study.

Grid, random and Bayesian search differ only in the sampler handed to one search code path (the
objective never knows which one drives it). A :class:`Strategy` row holds everything the product
says or does about one: its name (the race's contestant name), the ``SearchConfig`` pair it
stands for, its labels, chart colour, whether the Search page offers it, and the sampler factory.
The CLI's choices, the Search page, the race and the charts all read ``STRATEGIES``; adding a
strategy is one row here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from knobs.errors import ConfigError
from knobs.strategies._samplers import (
    AskTellGridSampler,
    PriorTPESampler,
    TunedSpaceCmaEsSampler,
    TunedSpaceGPSampler,
    TunedSpaceQMCSampler,
)

SamplerFactory = Callable[[int | None, bool, Mapping[str, list[Any]] | None, int | None], Any]


@dataclass(frozen=True)
class Strategy:
    """One search strategy.

    ``strategy`` and ``sampler`` are the two ``SearchConfig`` fields (and CLI flags) that select
    it; ``name`` is unique and is what a race calls it. ``build(seed, parallel, grid, budget)``
    makes the sampler: ``parallel`` is true when several workers share the study, ``budget`` is
    the study's trial budget (None: until a timeout). ``starts`` says whether the models'
    known-good starting points are tried first (a model-based strategy learns from them; random
    and grid search stay what their names say). ``prior`` says whether its sampler also learns
    from a warm start's earlier trials (``set_prior``, ``knobs.transfer.prior_trials``).
    """

    name: str
    strategy: str
    sampler: str
    label: str
    short: str
    colour: str
    offered: bool
    help: str
    build: SamplerFactory
    starts: bool = False
    prior: bool = False


def _grid(
    seed: int | None, parallel: bool, grid: Mapping[str, list[Any]] | None, budget: int | None
) -> Any:
    if grid is None:
        raise ConfigError("A grid search needs the grid to walk.")
    # GridSampler shuffles its points with the seed: every worker must share one seed, or the same
    # grid id means a different point in each worker.
    return AskTellGridSampler(dict(grid), seed=seed)


def _tpe(seed: int | None, parallel: bool, grid: Any, budget: int | None) -> Any:
    # Constant liar: with several workers, running trials count as "probably bad" so two workers
    # do not pile onto the same region.
    return PriorTPESampler(
        seed=seed,
        multivariate=True,
        group=True,
        constant_liar=parallel,
        n_startup_trials=startup_trials(budget),
    )


def startup_trials(budget: int | None) -> int:
    """Random trials before TPE models the study: Optuna's 10, fewer on a small budget (a fifth
    of it, at least 3), or a 10-trial budget would be all random."""
    return 10 if budget is None else max(3, min(10, budget // 5))


def _gp(seed: int | None, parallel: bool, grid: Any, budget: int | None) -> Any:
    try:
        import torch  # noqa: F401 - GPSampler needs it
    except ImportError as exc:  # pragma: no cover - torch is in requirements.txt
        raise ConfigError(
            "The GP sampler needs PyTorch: `pip install torch` (CPU build), or use `--sampler tpe`."
        ) from exc
    return TunedSpaceGPSampler(seed=seed)


def _cmaes(seed: int | None, parallel: bool, grid: Any, budget: int | None) -> Any:
    # CMA-ES models continuous parameters only; the model choice and categorical parameters are
    # sampled independently, by a seeded random sampler so a run stays reproducible.
    return TunedSpaceCmaEsSampler(
        seed=seed,
        independent_sampler=optuna.samplers.RandomSampler(seed=seed),
        warn_independent_sampling=False,
    )


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            "tpe", "bayes", "tpe", "Bayesian (TPE)", "TPE", "#3366cc", True,
            "learns from finished trials where good settings lie; fast and robust.", _tpe,
            starts=True, prior=True,
        ),
        Strategy(
            "gp", "bayes", "gp", "Bayesian (Gaussian process)", "GP", "#17becf", True,
            "more sample-efficient on small budgets and few numeric parameters.", _gp,
            starts=True,
        ),
        Strategy(
            "random", "random", "tpe", "Random", "Random", "#e4572e", True,
            "samples the space blindly; the baseline every strategy must beat.",
            lambda seed, parallel, grid, budget: optuna.samplers.RandomSampler(seed=seed),
        ),
        Strategy(
            "grid", "grid", "tpe", "Grid", "Grid", "#7f7f7f", True,
            "tries every combination of the grid values in the space editor.", _grid,
        ),
        Strategy(
            "cmaes", "cmaes", "tpe", "CMA-ES", "CMA-ES", "#9467bd", True,
            "evolves a distribution over the numeric parameters; good with larger budgets.",
            _cmaes, starts=True,
        ),
        Strategy(
            "qmc", "qmc", "tpe", "Quasi-random (Sobol)", "Quasi-random", "#2ca02c", True,
            "covers the space more evenly than random search (scrambled Sobol points).",
            lambda seed, parallel, grid, budget: TunedSpaceQMCSampler(seed=seed, scramble=True),
        ),
    )
}  # fmt: skip

#: Other names users type for a strategy.
ALIASES = {"bayes": "tpe", "bayesian": "tpe", "cma": "cmaes", "cma-es": "cmaes", "sobol": "qmc"}
#: ``SearchConfig.strategy`` values and ``SearchConfig.sampler`` values (the CLI's choices).
CONFIG_STRATEGIES: tuple[str, ...] = tuple(dict.fromkeys(s.strategy for s in STRATEGIES.values()))
SAMPLERS: tuple[str, ...] = tuple(
    dict.fromkeys(s.sampler for s in STRATEGIES.values() if s.strategy == "bayes")
)


def offered() -> list[Strategy]:
    """The strategies the Search page offers, in display order."""
    return [s for s in STRATEGIES.values() if s.offered]


def get_strategy(strategy: str, sampler: str | None = "tpe") -> Strategy:
    """The row for a ``SearchConfig`` pair; the sampler matters for ``bayes`` only."""
    for s in STRATEGIES.values():
        if s.strategy == strategy and (strategy != "bayes" or s.sampler == (sampler or "tpe")):
            return s
    raise ConfigError(
        f"Unknown strategy {strategy!r} (sampler {sampler!r}); use one of "
        f"{list(CONFIG_STRATEGIES)} and, for bayes, a sampler of {list(SAMPLERS)}."
    )


def by_name(name: str) -> Strategy:
    """The row called ``name`` or one of its aliases (``bayes`` is TPE)."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in STRATEGIES:
        raise ConfigError(
            f"Unknown strategy `{name}`: pick from {', '.join(STRATEGIES)} (`bayes` means tpe)."
        )
    return STRATEGIES[key]


def strategy_label(strategy: str | None, sampler: str | None = None) -> str:
    """How a stored strategy reads on screen ("Bayesian (Gaussian process)", "CMA-ES", ...)."""
    if not strategy:
        return ""
    try:
        return get_strategy(strategy, sampler).label
    except ConfigError:
        return strategy


def make_sampler(
    strategy: str,
    sampler: str = "tpe",
    *,
    seed: int | None = None,
    parallel: bool = False,
    grid: Mapping[str, list[Any]] | None = None,
    budget: int | None = None,
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler behind a ``SearchConfig`` strategy (and sampler)."""
    return get_strategy(strategy, sampler).build(seed, parallel, grid, budget)


__all__ = [
    "ALIASES",
    "CONFIG_STRATEGIES",
    "SAMPLERS",
    "STRATEGIES",
    "Strategy",
    "by_name",
    "get_strategy",
    "make_sampler",
    "offered",
    "strategy_label",
]
