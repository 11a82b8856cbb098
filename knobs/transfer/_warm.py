"""Warm start: what an earlier study's trials give a new search, and what they do not.

Carried over: each earlier study's best configuration per model family, queued in the new study
right after its defaults trials (before the known-good starts, of which those the earlier
studies already scored are left out) and marked with ``keys.WARM`` (source study and trial).
They are *re-evaluated* on the new table: the new study never holds an old score, so old scores
are never shown as its scores and never count toward its budget (the queued trials count as the
new trials they are).

As a prior for the sampler (``_prior``): with TPE (the default Bayesian strategy), every scored
trial of the earlier studies joins the model of the space by its rank in its own study; all
together they weigh as much as a few of the new study's own trials, less as it scores its own
(``knobs.strategies.PriorTPESampler``).
GP and CMA-ES learn from the queued points once scored, nothing more: Optuna's CMA-ES
``source_trials`` (warm-starting CMA-ES) needs every source trial in one shared numeric space,
which a study that searches several families with a ``model`` choice does not have. Random,
quasi-random and grid search take no prior by definition.

Not carried, and said in one notice: a family the new search does not try, a parameter value
outside the new range (it is sampled afresh), a family whose best was its defaults (the new
study tries the defaults anyway), a configuration already queued. Column differences (added,
dropped, changed kind) are said as well.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from knobs.errors import StudyError
from knobs.formatting import fmt_score
from knobs.metrics import Direction
from knobs.models import ModelSpec, Param
from knobs.pipelines import TARGET_KEY
from knobs.study import StudyPlan, best_trial, is_scored, open_storage
from knobs.study.keys import BASELINE, BUDGET, PLAN, PRIOR, WARM
from knobs.transfer._compat import Compatibility, check_sources, schema_of

#: How the warm start notice begins (it is one of the plan's notices).
NOTICE_START = "Warm start from"


def warm_notice(plan: StudyPlan) -> str | None:
    """The warm start notice of a study's plan (None for a cold start)."""
    return next((n for n in plan.notices if n.startswith(NOTICE_START)), None)


@dataclass(frozen=True)
class Carried:
    """One configuration carried over: where it comes from and the point queued."""

    study: str
    trial: int
    model: str
    old_value: float | None
    params: Mapping[str, Any]
    resampled: tuple[str, ...] = ()  # parameters left to the sampler (outside the new range)


@dataclass(frozen=True)
class WarmStart:
    """What a warm start queues, and the one notice that says what carries over and what not."""

    sources: tuple[str, ...]
    carried: tuple[Carried, ...]
    not_carried: tuple[str, ...] = field(default_factory=tuple)
    differences: tuple[str, ...] = field(default_factory=tuple)
    #: Said when the budget ends before every queued warm trial runs.
    budget_note: str = ""
    #: What the sampler learns from the earlier trials beyond the queued points (one sentence).
    prior_note: str = ""
    #: Known-good starts not queued: the earlier studies already scored them.
    skipped_starts: int = 0

    def notice(self) -> str:
        names = ", ".join(f"`{s}`" for s in self.sources)
        parts = [f"{NOTICE_START} {names}:"]
        if self.carried:
            items = []
            for c in self.carried:
                extra = f", {', '.join(c.resampled)} sampled afresh" if c.resampled else ""
                items.append(f"{c.model} (trial {c.trial} of `{c.study}`{extra})")
            parts.append(
                f"queued {len(self.carried)} best configuration(s), re-scored on this table: "
                + "; ".join(items)
                + "."
            )
        else:
            parts.append("nothing to queue.")
        if self.not_carried:
            parts.append("Not carried: " + "; ".join(self.not_carried) + ".")
        if self.differences:
            parts.append("Schema: " + "; ".join(self.differences) + ".")
        if self.budget_note:
            parts.append(self.budget_note)
        if self.skipped_starts:
            parts.append(
                f"{self.skipped_starts} known-good starting point(s) not tried again: the earlier "
                "studies already scored them."
            )
        parts.append(
            "Old scores do not count here: each queued trial is a new trial of this study's "
            "budget, and the sampler learns from them once scored."
        )
        if self.prior_note:
            parts.append(self.prior_note)
        return " ".join(parts)


def best_per_family(trials: Sequence[FrozenTrial], goal: Direction) -> dict[str, FrozenTrial]:
    """Each family's best scored trial, the defaults trial included."""
    out: dict[str, FrozenTrial] = {}
    models = dict.fromkeys(t.params.get("model") for t in trials if is_scored(t))
    for model in models:
        if model is None:
            continue
        best = best_trial([t for t in trials if t.params.get("model") == model], goal)
        if best is not None:
            out[str(model)] = best
    return out


def _fits(param: Param, value: Any) -> bool:
    if param.kind == "categorical":
        return value in param.choices
    if param.kind == "int" and float(value) != int(value):
        return False
    return param.low <= value <= param.high


def _point(
    spec: ModelSpec, trial: FrozenTrial, targets: tuple[str, ...]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The new study's point for an old trial: (params, resampled names, dropped names).
    ``targets`` are what the new study's regression trials may learn
    (``StudyPlan.target_transforms``): an old trial's choice of the log carries over where the
    new study chooses too, and is dropped by name where it cannot learn it."""
    point: dict[str, Any] = {"model": spec.name}
    resampled, dropped = [], []
    known = {spec.key(p.name): p for p in spec.params}
    for key, value in trial.params.items():
        if key == "model":
            continue
        if key == TARGET_KEY:
            if value not in targets:
                dropped.append(key)
            elif len(targets) > 1:
                point[key] = value
            continue
        param = known.get(key)
        if param is None:
            dropped.append(key)
        elif _fits(param, value):
            point[key] = value
        else:
            resampled.append(f"`{key}`={value} outside {param.describe_range()}")
    return point, resampled, dropped


def plan_warm_start(
    plan: StudyPlan,
    sources: Sequence[tuple[str, StudyPlan, Sequence[FrozenTrial], Compatibility]],
    queued: Sequence[Mapping[str, Any]] = (),
) -> WarmStart:
    """What to queue in a study with ``plan`` from the earlier studies ``sources``
    (name, plan, trials, compatibility); ``queued`` are the points already waiting."""
    specs = plan.specs()
    seen = [dict(q) for q in queued]
    carried: list[Carried] = []
    not_carried: list[str] = []
    differences: list[str] = []
    for name, old_plan, trials, compat in sources:
        differences += [f"`{name}`: {d}" for d in compat.differences()]
        if old_plan.metric != plan.metric:
            differences.append(
                f"`{name}` ranked its trials by {old_plan.metric}, this search by {plan.metric}"
            )
        bests = best_per_family(trials, old_plan.goal)
        if not bests:
            not_carried.append(f"`{name}` has no scored trial")
        for model, trial in bests.items():
            label = f"{model} (trial {trial.number} of `{name}`)"
            if model not in specs:
                not_carried.append(f"{label}: this search does not try {model}")
                continue
            if BASELINE.get(trial) or set(trial.params) == {"model"}:
                not_carried.append(f"{label}: its best was the defaults, tried here anyway")
                continue
            point, resampled, dropped = _point(specs[model], trial, plan.target_transforms)
            if dropped:
                not_carried.append(
                    f"{label}: parameter(s) {', '.join(dropped)} no longer in the space"
                )
            if point in seen:
                not_carried.append(f"{label}: the same configuration is already queued")
                continue
            seen.append(point)
            carried.append(Carried(name, trial.number, model, trial.value, point, tuple(resampled)))
    return WarmStart(
        sources=tuple(s[0] for s in sources),
        carried=tuple(carried),
        not_carried=tuple(not_carried),
        differences=tuple(differences),
    )


def scored_points(
    plan: StudyPlan, sources: Sequence[tuple[str, StudyPlan, Sequence[FrozenTrial], Compatibility]]
) -> list[dict[str, Any]]:
    """The new study's points of every configuration the earlier studies scored whole (each
    parameter inside the new space): ``enqueue_openers`` does not queue a known-good start again
    when an earlier study on a table like this one already ranked it."""
    specs = plan.specs()
    out: list[dict[str, Any]] = []
    for _name, _plan, trials, _compat in sources:
        for t in trials:
            spec = specs.get(str(t.params.get("model")))
            if spec is None or not is_scored(t) or BASELINE.get(t):
                continue
            point, resampled, dropped = _point(spec, t, plan.target_transforms)
            if not resampled and not dropped and point not in out:
                out.append(point)
    return out


def apply_warm_start(
    study: optuna.Study, plan: StudyPlan, storage: str | None = None
) -> list[dict[str, Any]]:
    """Queue the earlier studies' best configurations in a study just created with ``plan``
    (``Search.create`` calls it right after the defaults trials), and add the notice to its
    plan. Returns the points the earlier studies already scored (``scored_points``).

    A warm start that cannot be honoured (an unknown or incompatible study) raises
    ``StudyError`` after removing the half-made study, so a refused warm start leaves nothing.
    """
    if not plan.config.warm_start:
        return []
    try:
        if study.study_name in plan.config.warm_start:
            raise StudyError(f"Study `{study.study_name}` cannot warm start from itself.")
        checked = check_sources(schema_of(plan), plan.config.warm_start, storage)
        sources = [
            (name, old_plan, old.get_trials(deepcopy=False), compat)
            for name, old_plan, old, compat in checked
        ]
    except StudyError:
        optuna.delete_study(study_name=study.study_name, storage=open_storage(storage))
        shutil.rmtree(plan.data_dir, ignore_errors=True)
        raise
    # A queued trial keeps its point in ``fixed_params`` until a worker claims it. A defaults
    # trial's point is the model alone, but it means "library defaults", not "sample the rest".
    queued = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    waiting = [t.system_attrs.get("fixed_params", t.params) for t in queued if not BASELINE.get(t)]
    warm = plan_warm_start(plan, sources, waiting)
    budget, ahead, n = BUDGET.get(study), len(queued), len(warm.carried)
    if n and budget is not None and budget < ahead + n:
        runs = max(0, budget - ahead)
        warm = replace(warm, budget_note=(
            f"The budget of {budget} trials runs the {ahead} defaults trial(s) queued first, "
            f"so {'only ' + str(runs) if runs else 'none'} of the {n} warm trial(s) will run: "
            f"raise the budget to at least {ahead + n} to try them all."
        ))  # fmt: skip
    known = scored_points(plan, sources)
    queued_here = [c.params for c in warm.carried]
    warm = replace(warm, prior_note=prior_note(plan),
                   skipped_starts=_skipped_starts(plan, known, queued_here))  # fmt: skip
    for c in warm.carried:
        study.enqueue_trial(
            dict(c.params),
            user_attrs=WARM.attr({"study": c.study, "trial": c.trial, "old_value": c.old_value}),
        )
    PLAN.set(study, replace(plan, notices=(*plan.notices, warm.notice())).to_attr())
    return known


def _skipped_starts(
    plan: StudyPlan, known: Sequence[Mapping[str, Any]], queued: Sequence[Mapping[str, Any]]
) -> int:
    """How many known-good starts ``enqueue_openers`` will leave out because an earlier study
    scored them, for the notice (none unless the strategy queues starts); a start that is also a
    carried configuration (``queued``) is tried, as the warm trial, and not counted."""
    from knobs.strategies import get_strategy

    if not get_strategy(plan.config.strategy, plan.config.sampler).starts:
        return 0
    return sum(
        point in known and point not in queued
        for spec in plan.specs().values()
        for point in spec.start_points()
    )


def prior_note(plan: StudyPlan) -> str:
    """What the study's sampler takes from the earlier trials beyond the queued points."""
    from knobs.strategies import get_strategy
    from knobs.transfer._prior import PRIOR_MAX

    strategy = get_strategy(plan.config.strategy, plan.config.sampler)
    if not strategy.prior:
        return f"{strategy.label} takes no prior from the earlier trials."
    from knobs.strategies._samplers import PRIOR_WORTH

    return (
        f"{strategy.label} also models the earlier studies' scored trials (up to {PRIOR_MAX}, "
        "by their rank in their own study, never their scores) as a prior that weighs, all "
        f"together, as much as {PRIOR_WORTH:.0f} of this study's own trials at first and less "
        "as it scores its own."
    )


def warm_report(
    trials: Sequence[FrozenTrial], plan: StudyPlan, prior: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The warm-started trials of a study and their sources, for the JSON report and the CLI.

    ``old_value`` is the score the configuration had in its source study (on its table), shown
    beside ``value``, its score here; only ``value`` is this study's. ``prior_trials``: how many
    earlier trials the sampler modelled as a prior (``keys.PRIOR``, written by the workers).
    """
    rows = []
    for t in trials:
        origin = WARM.get(t)
        if not origin:
            continue
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "model": t.params.get("model"),
                "value": t.value if is_scored(t) else None,
                "source_study": origin.get("study"),
                "source_trial": origin.get("trial"),
                "old_value": origin.get("old_value"),
            }
        )
    return {"sources": list(plan.config.warm_start), "notice": warm_notice(plan), "trials": rows,
            "prior_trials": (prior or {}).get("trials", 0)}  # fmt: skip


def warm_summary(report: Mapping[str, Any]) -> list[str]:
    """``warm_report`` in lines for the CLI."""
    if not report["sources"]:
        return []
    lines = [
        f"warm start from {', '.join(report['sources'])}: {len(report['trials'])} trial(s) queued"
        + (f", {report['prior_trials']} earlier trial(s) as the sampler's prior"
           if report.get("prior_trials") else "")
    ]  # fmt: skip
    for r in report["trials"]:
        lines.append(
            f"  trial {r['number']} ({r['model']}, {r['state'].lower()}): {fmt_score(r['value'])} "
            f"here; was trial {r['source_trial']} of {r['source_study']} "
            f"({fmt_score(r['old_value'])} there)"
        )
    return lines


def study_warm_report(study: str, storage: str | None = None) -> dict[str, Any]:
    """``warm_report`` of a stored study, by name (what ``knobs tune --json`` adds)."""
    from knobs.study import load_study, read_plan

    loaded = load_study(study, storage)
    return warm_report(loaded.get_trials(deepcopy=False), read_plan(loaded), PRIOR.get(loaded))
