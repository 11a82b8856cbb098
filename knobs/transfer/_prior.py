"""Earlier studies' trials as a prior for a warm-started study's sampler.

The queued best configurations (``_warm``) tell the new study where the old optima were; the
prior tells its TPE sampler what the whole earlier search learnt about good and bad regions, so
the first sampled trial already models the space instead of drawing the random start-up trials.

Scores from another table are not comparable with this table's (another metric, another scale,
another difficulty), so a prior trial carries only its *rank* in its own study: the quantile
``q`` (0 = its study's best, 1 = its worst). The sampler places it on the new study's own scale
(``knobs.strategies.PriorTPESampler``) and gives it a weight below the new study's trials, lower
as the new study scores more of its own. Nothing of this is stored in the new study: its
trials, scores and budget are its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from knobs.errors import StudyError
from knobs.pipelines import TARGET_KEY, choices_for
from knobs.study import StudyPlan
from knobs.study.keys import BASELINE

#: At most this many earlier trials make the prior (evenly spread over their ranks): TPE's cost
#: grows with the trials it models, and an earlier study may hold thousands.
PRIOR_MAX = 400

#: Where a prior trial's rank quantile is kept on its copy (read by the sampler).
QUANTILE_ATTR = "knobs_prior_quantile"


def new_space(plan: StudyPlan) -> dict[str, dict[str, BaseDistribution]]:
    """Per model family, the distributions the new study's objective suggests its parameters
    from (``knobs.study._objective.suggest``): the ``model`` choice, the model's parameters and,
    in a pipeline search, the preprocessing choices, and what a regression trial learns where
    the plan lets it choose (``prep.target``). Only model-based samplers take a prior
    (``Strategy.prior``), never the grid, so every parameter of the space is in it."""
    specs = plan.specs()
    model = CategoricalDistribution(list(specs))
    out = {}
    for name, spec in specs.items():
        space: dict[str, BaseDistribution] = {"model": model}
        space.update({spec.key(p.name): p.distribution() for p in spec.params})
        if plan.config.search_pipeline:
            space.update({c.key: c.param.distribution() for c in choices_for(spec)})
        if len(plan.target_transforms) > 1:
            space[TARGET_KEY] = CategoricalDistribution(list(plan.target_transforms))
        out[name] = space
    return out


def _in_space(value: Any, dist: BaseDistribution) -> bool:
    try:
        return dist._contains(dist.to_internal_repr(value))
    except (ValueError, TypeError):
        return False


def prior_point(
    trial: FrozenTrial, space: Mapping[str, BaseDistribution]
) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
    """The part of an earlier trial's point that lies in the new space (name, value inside the
    new range or choices) with the new distributions; the rest is left out, not guessed."""
    params, dists = {}, {}
    for key, value in trial.params.items():
        dist = space.get(key)
        if dist is not None and _in_space(value, dist):
            params[key], dists[key] = value, dist
    return params, dists


def prior_trials(plan: StudyPlan, storage: str | None) -> list[FrozenTrial]:
    """The earlier studies' scored tuned trials as prior trials for a study with ``plan``.

    Each is a fresh ``FrozenTrial`` (negative number: before every trial of the new study) whose
    value is its rank quantile in its own study, kept under ``QUANTILE_ATTR`` too. An earlier
    study that has gone or no longer matches gives no prior (the search goes on cold).
    """
    if not plan.config.warm_start:
        return []
    from knobs.transfer._compat import check_sources, schema_of

    try:
        sources = check_sources(schema_of(plan), plan.config.warm_start, storage)
    except StudyError:
        return []
    spaces = new_space(plan)
    ranked: list[tuple[float, dict[str, Any], dict[str, BaseDistribution]]] = []
    for _name, old_plan, old, _compat in sources:
        scored = [
            t
            for t in old.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value) and not BASELINE.get(t)
        ]
        scored.sort(key=lambda t: t.value, reverse=old_plan.goal == "maximize")
        last = max(1, len(scored) - 1)
        for i, t in enumerate(scored):
            space = spaces.get(str(t.params.get("model")))
            if space is None:
                continue  # a family this search does not try
            params, dists = prior_point(t, space)
            if len(params) > 1:  # more than the model choice
                ranked.append((i / last, params, dists))
    ranked.sort(key=lambda r: r[0])
    if len(ranked) > PRIOR_MAX:
        step = len(ranked) / PRIOR_MAX
        ranked = [ranked[int(i * step)] for i in range(PRIOR_MAX)]
    out = []
    for i, (q, params, dists) in enumerate(ranked):
        t = optuna.trial.create_trial(
            params=params,
            distributions=dists,
            value=q,
            state=TrialState.COMPLETE,
            user_attrs={QUANTILE_ATTR: q},
        )
        t.number = i - len(ranked)  # -n .. -1, best first
        out.append(t)
    return out
