"""The final model of a search: the best single trial, or a greedy ensemble when it earns it.

When a search ends, greedy selection (Caruana) runs over five of the best trials' kept
out-of-fold predictions, other model families and weakly correlated predictions first
(``diverse``): a search's top five are often near-copies of one family (houses': five ridge
penalties within 0.0003 R², whose blend could not beat its best). Its nested-CV score is
compared with the best single trial's on the same folds; the ensemble is chosen when its gain
beats the fold noise (one standard error of the paired per-fold gains: :func:`earns_its_place`),
judged on cross-validation alone, so the held-out test split still scores the chosen model
honestly. Everything before the choice works on stored
predictions (seconds); only a chosen ensemble refits its members.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from knobs.errors import ConfigError, StudyError
from knobs.formatting import fmt_gain, fmt_score, plural
from knobs.metrics import MIN_GAIN, call, fold_noise, margin_words, noise_floor

from ._nested import learn_weights, nested_cv_scores
from ._options import Options
from ._pool import candidates

#: Candidate trials greedy selection may pick from.
FINAL_TOP = 5


def _refit_seconds(pool: Any, members: Any) -> float:
    """Seconds to refit ``members`` of ``pool`` on the whole training split, one after the
    other, from their trials' own fold fits (the same estimate the workers keep back for a
    single refit). Not side by side: members refitted in two threads took 5.2 s where one at a
    time took 1.1 s (houses: the OpenMP pools of HistGradientBoosting and XGBoost spin against
    each other on 2 cores)."""
    from knobs.study import load_study
    from knobs.study._timing import refit_seconds

    trials = {name: load_study(name, pool.storage).trials for name in pool.studies}
    return sum(
        refit_seconds(trials[c.study][c.trial], pool.plan.folds)
        for c in (pool.candidates[i] for i in members)
    )


def earns_its_place(gain: float, fold_gains: list[float]) -> tuple[bool, str]:
    """Whether an ensemble with nested-CV ``gain`` over the best single trial is delivered, and
    the words that say how sure that is.

    Delivering a model is a bet on its expected score, not a verdict: the ensemble's gain is
    scored nested (weights learned without the fold scored), while the best single trial was
    picked as the best of many on these very folds, so the comparison already leans towards the
    single trial. Demanding the verdicts' 95% margin on top (2.8 standard errors from 5 folds)
    sent back ensembles that were better on the held-out rows: houses, +0.0116 R² in CV against
    a margin of 0.0142. One standard error of the paired per-fold gains (the fold noise) guards
    against a lucky fold; between it and the 95% margin the words call the gain likely, not sure.
    """
    if fold_gains and all(abs(g) < 1e-12 for g in fold_gains):
        # "+0.0000 ... does not beat the fold noise of its gain (±0.0000)" said it in numbers
        return False, "adds nothing: greedy selection kept the best single trial alone."
    floor = noise_floor(fold_gains)
    if call(gain, floor) == "loss":
        return False, "is a loss."
    noise = fold_noise(fold_gains)
    if noise is None:
        return False, "cannot be told from the noise."
    if gain < -MIN_GAIN:  # "does not beat the noise" read oddly for a blend scoring lower (-0.0011)
        return False, "scores lower: no better (a loss within the 95% margin)."
    if gain <= max(MIN_GAIN, noise):
        return False, (f"does not beat the fold noise of its gain (±{fmt_score(noise)}, one "
                       "standard error of the per-fold gains).")
    if gain > floor:
        return True, "beats the margin."
    return True, (f"beats the fold noise of its gain (±{fmt_score(noise)}, one standard error "
                  "of the per-fold gains): a likely gain, within the 95% margin.")


@dataclass(frozen=True)
class FinalChoice:
    """Which model a search ends with, and why (stored on the study, shown everywhere)."""

    kind: str  # "ensemble" | "single"
    why: str
    ensemble_id: str | None = None
    cv_score: float | None = None
    best_single_cv_score: float | None = None
    seconds: float = 0.0
    #: An ensemble's members' refit on the training split alone (``seconds`` also counts the
    #: choice): what its refit on every row is estimated from.
    refit_s: float | None = None
    #: An early "ensemble" verdict's learning: its candidates (``[study, trial]``), nested fold
    #: scores and weights, so the end of the search builds it without judging again when the
    #: candidates have not changed (:func:`final_choice`).
    learned: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["learned"] is None:
            del data["learned"]
        return data

    def members(self) -> list[tuple[str, int]]:
        """The (study, trial) pairs an early "ensemble" verdict blends (weight above 0); none
        without its learning."""
        learned = self.learned or {}
        pairs = zip(learned.get("candidates", ()), learned.get("weights", ()), strict=False)
        return [(str(name), int(trial)) for (name, trial), w in pairs if w > 0]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinalChoice:
        """The choice stored with :meth:`to_dict`, other keys beside it ignored."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def early_verdict(study: Any, run: int) -> FinalChoice | None:
    """The final choice judged early in run ``run`` of ``study`` (``EARLY_CHOICE``), if any; one
    of an earlier run (before a resume) no longer holds."""
    from knobs.study.keys import EARLY_CHOICE

    stored = EARLY_CHOICE.get(study) or {}
    return FinalChoice.from_dict(stored) if stored.get("run") == run else None


@dataclass(frozen=True)
class _Judged:
    """Greedy selection over a search's best trials, scored nested against the best single
    trial on the same folds: everything a choice needs before any refit."""

    pool: Any
    opts: Options
    folds: list[float]  # the ensemble's nested fold scores
    cv: float
    best_cv: float
    numbers: str  # the scores and the fold noise, in words
    chosen: bool
    how: str  # how sure, in words (see earns_its_place)
    weights: np.ndarray | None  # the greedy weights over ``pool``'s candidates, when chosen

    def learned(self) -> dict[str, Any]:
        """What :attr:`FinalChoice.learned` keeps of this judgement (plain JSON)."""
        return {
            "candidates": _candidate_keys(self.pool),
            "folds": [float(f) for f in self.folds],
            "weights": [float(w) for w in (self.weights if self.weights is not None else ())],
        }


def _candidate_keys(pool: Any) -> list[list[Any]]:
    """The pool's candidates as ``[study, trial]`` pairs, as an early judgement stores them."""
    return [[c.study, c.trial] for c in pool.candidates]


def _reused(pool: Any, learned: dict[str, Any] | None) -> tuple[list[float], np.ndarray] | None:
    """The nested fold scores and weights an early judgement learned, when it judged these very
    candidates (the same computation would give the same numbers); None otherwise."""
    if not learned or not learned.get("weights"):
        return None
    if _candidate_keys(pool) != learned.get("candidates"):
        return None
    return [float(f) for f in learned["folds"]], np.asarray(learned["weights"], dtype=float)


def _judge(
    study: str,
    storage: str | None,
    top: int,
    *,
    learned: dict[str, Any] | None = None,
    judge: bool = True,
) -> _Judged | FinalChoice | None:
    """The ensemble judged on stored predictions (seconds), or the single trial's choice when
    there is no ensemble to judge. ``learned``: an early judgement's learning, reused when its
    candidates are still the search's (loading them takes a fraction of the judging); ``judge``
    False: None rather than judging again when they are not (no time left for it)."""
    opts = Options("greedy", top=top, diverse=True, recompute=False, evaluate_test=False)
    try:
        pool = candidates(
            study, opts.top, diverse=opts.diverse, recompute=opts.recompute, storage=storage
        )
    except (ConfigError, StudyError) as exc:
        return FinalChoice("single", f"No ensemble: {exc}")
    if len(pool.candidates) < 2:
        from knobs.study import load_study
        from knobs.study._budget import is_scored

        done = sum(1 for t in load_study(study, storage).trials if is_scored(t))
        if done < 2:  # a search stopped on a perfect first trial was told of Dask and big tables
            return FinalChoice(
                "single", f"No ensemble: {plural(done, 'trial')} finished, and a blend needs two."
            )
        return FinalChoice(
            "single",
            "No ensemble: fewer than two trials kept their out-of-fold predictions "
            "(large tables and searches run on Dask do not keep them; `knobs ensemble` can "
            "recompute them).",
        )
    best_cv, best_folds = pool.fold_score(pool.oof[pool.best_index()])
    reused = _reused(pool, learned)
    if reused is None and not judge:
        return None
    folds, weights = reused if reused is not None else (nested_cv_scores(pool, opts), None)
    way = pool.metric.direction
    gains = [way.gain(a, b) for a, b in zip(folds, best_folds, strict=True)]
    cv = sum(folds) / len(folds)
    gain = way.gain(cv, best_cv)
    numbers = (
        f"greedy ensemble CV {fmt_score(cv)} vs {fmt_score(best_cv)} for the best single "
        f"trial ({fmt_gain(gain)}; fold-to-fold {margin_words(noise_floor(gains), len(gains))})"
    )
    chosen, how = earns_its_place(gain, gains)
    if chosen and weights is None:
        weights = learn_weights(pool, opts, np.arange(len(pool.y)))
    return _Judged(pool, opts, folds, cv, best_cv, numbers, chosen, how, weights)


def early_choice(
    study: str, *, storage: str | None = None, top: int = FINAL_TOP, done: int | None = None
) -> FinalChoice:
    """The final choice as the trials stand now, without building anything: a worker asks when
    no trial can end before the time kept back for an ensemble's refits.

    "single" is final: the workers run on to the single model's cut, and the end of the search
    does not judge again (an ensemble that earned its place later could not be refitted in the
    time left anyway). The ensemble's share of the budget (up to a fifth) was otherwise left
    unused where none earned its place (0.84 to 0.92 of the budget used on breast cancer, fair,
    churn, digits and randhie). "ensemble": the workers stop there, and the end builds it with
    what was learned here when its candidates are still the best trials; else it judges again,
    on every trial (judging twice took the time kept back for the members' refits: fair, 0.75 s
    early and 0.97 s at the end of a 2.6 s reserve, and an ensemble that beat the margin went
    back "for want of time"). ``done``: the trials finished when judged, for the words (the
    best single score they quote is that of those trials, not of the search's end)."""
    started = time.perf_counter()
    judged = _judge(study, storage, top)
    if isinstance(judged, FinalChoice):
        return judged
    if judged.chosen:
        return FinalChoice(
            "ensemble", f"A greedy ensemble: the {judged.numbers} {judged.how}",
            cv_score=judged.cv, best_single_cv_score=judged.best_cv,
            seconds=time.perf_counter() - started, learned=judged.learned(),
        )  # fmt: skip
    when = f"on the first {done} trials, " if done else ""
    return FinalChoice(
        "single",
        f"The best single trial: the {judged.numbers} {judged.how} (judged {when}when the "
        "search reached the time kept back for an ensemble's refits; the search then ran on, "
        "and its best trial may score higher)",
        cv_score=judged.cv, best_single_cv_score=judged.best_cv,
        seconds=time.perf_counter() - started,
    )  # fmt: skip


def final_choice(
    study: str,
    *,
    storage: str | None = None,
    top: int = FINAL_TOP,
    budget_s: float | None = None,
    early: FinalChoice | None = None,
    choose_s: float | None = None,
) -> tuple[FinalChoice, Any]:
    """Choose the search's final model; returns the choice and, for an ensemble, the fitted
    estimator (trained on the whole training split).

    ``budget_s`` is the time left for the refits: an ensemble whose members' refit on the
    training split (to score the test split; the refit on every row follows only if time is
    left, as for a single model) would not fit in it (estimated from their own fold fits) gives
    way to the best single trial. ``early``: this run's early verdict (:func:`early_verdict`);
    an "ensemble" one is built as learned when its candidates are still the best trials, even
    with less than a choice's time left. ``choose_s``: the choice's seconds on this study's
    predictions (``knobs.study._timing.choose_seconds``; default ``CHOOSE_S``).
    """
    from knobs.study._timing import CHOOSE_S

    from ._build import build_ensemble

    started = time.perf_counter()
    learned = early.learned if early is not None else None
    choose_s = CHOOSE_S if choose_s is None else choose_s
    short = budget_s is not None and budget_s < choose_s
    # Choosing alone would eat the time the single model's refits need.
    judged = None if short and not learned else _judge(study, storage, top, learned=learned,
                                                        judge=not short)  # fmt: skip
    if judged is None:
        return FinalChoice(
            "single",
            f"The best single trial: {max(0.0, budget_s or 0.0):.0f} s of the time budget were "
            f"left, too little to choose an ensemble (about {choose_s:.0f} s) and refit it.",
        ), None
    if isinstance(judged, FinalChoice):
        return judged, None
    pool, opts, numbers, how = judged.pool, judged.opts, judged.numbers, judged.how
    cv, best_cv = judged.cv, judged.best_cv
    if not judged.chosen:
        return FinalChoice(
            "single", f"The best single trial: the {numbers} {how}",
            cv_score=cv, best_single_cv_score=best_cv,
            seconds=time.perf_counter() - started,
        ), None  # fmt: skip
    weights = judged.weights
    assert weights is not None  # a chosen ensemble's weights are learned with the choice
    if budget_s is not None:
        members = np.flatnonzero(weights)
        # The members' refits, in what is left after choosing. Their estimate already allows half
        # as much again for the spread of fit times (``refit_seconds``), and the refits run after
        # the workers have exited; a second safety factor of 1.5 on top refused ensembles that
        # beat the noise on 3 of 4 houses searches at 18 s for want of 1 s, with 2-3 s of the
        # budget then left unused.
        cost = _refit_seconds(pool, members)
        budget_s -= time.perf_counter() - started
        if cost > budget_s:
            return FinalChoice(
                "single",
                f"The best single trial: the {numbers} {how[:-1]}, but refitting its "
                f"{len(members)} members (about {cost:.0f} s) would overrun the time budget "
                f"({max(0.0, budget_s):.0f} s left).",
                cv_score=cv, best_single_cv_score=best_cv,
                seconds=time.perf_counter() - started,
            ), None  # fmt: skip
    report = build_ensemble(
        study, opts, storage=storage, keep=True, pool=pool, learned=(judged.folds, weights)
    )
    return FinalChoice(
        "ensemble", f"A greedy ensemble of {len(report.members)} trials: the {numbers} {how}",
        ensemble_id=report.id, cv_score=cv, best_single_cv_score=best_cv,
        seconds=time.perf_counter() - started, refit_s=report.timings.get("refit_members_s"),
    ), report.estimator  # fmt: skip
