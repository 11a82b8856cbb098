"""Which trials a chart sees: the pure step in front of every Optuna plot.

Optuna's ``optuna.visualization`` draws history, importances, parallel coordinates, slices,
contours, the EDF, a timeline and intermediate values; we use those as they are and choose what
they are fed. A Knobs study may search several model families whose parameters are prefixed
(``xgboost.max_depth``) and exist only in their own trials, and opens with default-parameter
trials that are not points of the space; the parameter plots need trials that share one space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from knobs.study import is_scored, model_params
from knobs.study.keys import BASELINE

#: What every chart of a study takes: its trials, as Optuna returns them.
Trials = Sequence[FrozenTrial]
#: Parameter importance and parallel coordinates mean little on fewer tuned trials than this.
MIN_TRIALS_FOR_ANALYSIS = 5


@dataclass(frozen=True)
class Selection:
    """Which trials the charts use."""

    failed: bool = False  # include FAIL trials (where a plot can show them: timeline)
    pruned: bool = True  # include PRUNED trials
    baseline: bool = True  # include the default-parameter trials (history, EDF, timeline)
    model: str | None = None  # restrict to one model family (its parameters unprefixed)


def select(trials: Sequence[FrozenTrial], sel: Selection) -> list[FrozenTrial]:
    """The trials a chart should see, by state, baseline flag and model."""
    keep = {TrialState.COMPLETE, TrialState.RUNNING}
    if sel.failed:
        keep.add(TrialState.FAIL)
    if sel.pruned:
        keep.add(TrialState.PRUNED)
    return [
        t
        for t in trials
        if t.state in keep
        and (sel.baseline or not BASELINE.get(t))
        and (sel.model is None or t.params.get("model") == sel.model)
    ]


def _is_tuned(t: FrozenTrial, model: str) -> bool:
    """A trial of ``model`` that sampled its space (a baseline holds only library defaults)."""
    return t.params.get("model") == model and not BASELINE.get(t) and bool(model_params(t)[1])


def tuned_trials(
    trials: Sequence[FrozenTrial], model: str, *, scored_only: bool = True
) -> list[FrozenTrial]:
    """One model's tuned trials, rebuilt with its prefix taken off the parameter names.

    ``xgboost.max_depth`` becomes ``max_depth``, so Optuna's parameter plots see one space.
    ``scored_only`` keeps complete trials with a finite score (what importance needs); without
    it every state is kept (the plots skip what they cannot draw) and a running trial becomes a
    failed one, since a study refuses unfinished trials.
    """
    prefix = f"{model}."
    out: list[FrozenTrial] = []
    for t in trials:
        if (scored_only and not is_scored(t)) or not _is_tuned(t, model):
            continue
        _, params = model_params(t)
        # The pipeline search's ``prep.*`` choices keep their names (``model_params`` does).
        dists = {
            (k[len(prefix) :] if k.startswith(prefix) else k): d
            for k, d in t.distributions.items()
            if k.startswith((prefix, "prep."))
        }
        out.append(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=float(t.value) if is_scored(t) else None,
                state=t.state if t.state != TrialState.RUNNING else TrialState.FAIL,
                intermediate_values=dict(t.intermediate_values),
                user_attrs=dict(t.user_attrs),
            )
        )
    return out


def tuned_counts(trials: Sequence[FrozenTrial], *, minimum: int = 1) -> dict[str, int]:
    """Scored tuned trials per model family, most first, for models with at least ``minimum``.

    The front ends preselect the first (the best-explored model); the live view asks for
    ``MIN_TRIALS_FOR_ANALYSIS`` so its parameter charts wait until they mean something.
    """
    counts: dict[str, int] = {}
    for t in trials:
        model = t.params.get("model")
        if model and is_scored(t) and _is_tuned(t, model):
            counts[model] = counts.get(model, 0) + 1
    ready = {m: n for m, n in counts.items() if n >= minimum}
    return dict(sorted(ready.items(), key=lambda kv: -kv[1]))


def params_varied_in_complete(trials: Sequence[FrozenTrial]) -> list[str]:
    """Parameters that took more than one value among the complete trials, sorted.

    Importance is undefined for the others, and a constant axis says nothing; Optuna's
    parameter plots read complete trials only, so failed ones must not make a parameter count.
    """
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    names = sorted({k for t in done for k in t.params})
    return [n for n in names if len({repr(t.params.get(n)) for t in done}) > 1]


def has_intermediate(trials: Sequence[FrozenTrial]) -> bool:
    """Did any trial report per-fold values (they come with pruning)?"""
    return any(t.intermediate_values for t in trials)


def as_study(trials: Sequence[FrozenTrial], direction: str) -> optuna.Study:
    """An in-memory study holding copies of ``trials`` (Optuna's plots take a study).

    Built by hand rather than with ``create_study``, which logs a line per call: the live view
    rebuilds these whenever a trial completes.
    """
    storage = optuna.storages.InMemoryStorage()
    directions = [optuna.study.StudyDirection[direction.upper()]]
    name = storage.get_study_name_from_id(storage.create_new_study(directions, "knobs-charts"))
    study = optuna.Study(study_name=name, storage=storage)
    for t in trials:
        if t.state == TrialState.RUNNING:
            continue  # add_trial refuses unfinished trials; a live chart shows them next refresh
        study.add_trial(t)
    return study


def optuna_plot(
    plot: Callable[..., go.Figure], trials: Sequence[FrozenTrial], direction: str, **options: Any
) -> go.Figure:
    """One of ``optuna.visualization``'s plots, drawn from the selected trials only."""
    return plot(as_study(trials, direction), **options)


def renumber(fig: go.Figure, trials: Sequence[FrozenTrial], axis: str) -> go.Figure:
    """Put the study's own trial numbers back on ``axis`` of an Optuna plot.

    ``as_study`` copies the selected trials into a new study, which numbers them 0, 1, 2...: a
    chart of a filtered or thinned study would show trial 999 for trial 9,990. Values that are
    not copy numbers (dates, scores) are left alone.
    """
    original = [t.number for t in trials if t.state != TrialState.RUNNING]
    for trace in fig.data:
        values = getattr(trace, axis, None)
        if not values or not all(isinstance(v, int) and 0 <= v < len(original) for v in values):
            continue
        trace.update({axis: [original[v] for v in values]})
    return fig


def for_model(title: str, model: str | None) -> str:
    """A title naming the model whose parameters are drawn (``... · xgboost``)."""
    return f"{title} · {model}" if model else title
