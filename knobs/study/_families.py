"""``--models auto``: a trial budget spread across model families by how promising each is.

Every family first gets its defaults trial and its known-good starting points (cheap ones first).
Then the tuned trials go round in rungs of successive halving over the families: in rung ``k``
every family still in the race gets ``2**k`` tuned trials; when all have claimed them, the families
are ranked by their best cross-validated score so far (a trial still running in another worker does
not hold the others up) and the worse half stops getting trials, except a family within the
fold-to-fold noise of the leader (it has not lost yet). A family that has converged while others
still explore (stalled, its recent scores all within the noise of its best: a small space with
nothing left to try) stops taking its share of the rungs and keeps its place in the ranking: on a
house-price table a ridge regression's one penalty had converged by its defaults and went on to
take 12 of 46 trials, 10 of them at the same 0.8382. The last family left gets the rest of the
budget, until it stalls: once it has gone ``STALL_PER_PARAM`` tuned trials per searched parameter
(at least ``STALL_MIN``) without beating its best by the noise, the best family it outlasted whose
own space was never explored that far comes back for a rung. A small space converges in a few
trials (a ridge regression's one penalty) and then wins every early rung against a big space that
needs dozens (XGBoost's seven): on a 1,190-row house-price table ridge took 40 of 47 trials at a
flat CV score while XGBoost, stopped after 3 trials, was the better model. Each family comes back
at most once. The decisions are stored on the study, so every worker and every resume follows the
same ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from knobs.metrics import Direction, fold_noise
from knobs.study._budget import counts_toward_budget, is_scored
from knobs.study._reader import best_trial
from knobs.study.keys import BASELINE, CV, FAMILIES, START

#: Tuned trials per searched parameter a lone family may go without beating its best by the noise
#: before it is called stalled (and that a family's space needs before it counts as explored).
STALL_PER_PARAM = 2
#: ... and at least this many, whatever the space.
STALL_MIN = 4


def _tuned(trials: Sequence[FrozenTrial], model: str) -> list[FrozenTrial]:
    """A family's tuned trials so far (failed ones too), not its defaults or starting points."""
    return [
        t
        for t in trials
        if t.params.get("model") == model
        and not BASELINE.get(t)
        and not START.get(t)
        and counts_toward_budget(t)
    ]


def _finished(trials: Sequence[FrozenTrial], model: str) -> list[FrozenTrial]:
    """A family's finished tuned trials, oldest first."""
    return sorted((t for t in _tuned(trials, model) if t.state.is_finished()),
                  key=lambda t: t.number)  # fmt: skip


def _best(trials: Sequence[FrozenTrial], model: str, goal: Direction) -> FrozenTrial | None:
    return best_trial([t for t in trials if t.params.get("model") == model], goal)


def _noise(trial: FrozenTrial | None) -> float:
    """How much a trial's lead could be luck: the noise of its mean fold score."""
    folds = (CV.get(trial) or {}).get("fold_scores", ()) if trial is not None else ()
    return fold_noise(folds) or 0.0


def survivors(alive: Sequence[str], trials: Sequence[FrozenTrial], goal: Direction) -> list[str]:
    """The families that go on to the next rung: the better half by best score, plus any within
    the noise of the leader. A family with no score after its rung (every trial failed) cannot
    learn the task and stops, unless no family has a score yet."""
    bests = {m: _best(trials, m, goal) for m in alive}
    scored = goal.ranked([m for m in alive if bests[m] is not None], key=lambda m: bests[m].value)
    if not scored:
        return list(alive)
    if len(scored) == 1:
        return scored
    leader = bests[scored[0]]
    keep = set(scored[: max(1, math.ceil(len(scored) / 2))])
    slack = 2 * _noise(leader)
    threshold = goal.shifted(leader.value, slack)
    keep |= {m for m in scored if not goal.better(threshold, bests[m].value)}
    return [m for m in alive if m in keep]


def _patience(trials: Sequence[FrozenTrial], model: str) -> int:
    """Tuned trials a family's space needs: ``STALL_PER_PARAM`` per parameter its trials searched."""
    names = {k for t in trials if t.params.get("model") == model for k in t.params if k != "model"}
    return max(STALL_MIN, STALL_PER_PARAM * len(names))


def stalled(trials: Sequence[FrozenTrial], model: str, goal: Direction) -> bool:
    """Has the family gone its patience in tuned trials without beating, by more than the noise
    of its folds, the best it had before them?"""
    patience = _patience(trials, model)
    tuned = _finished(trials, model)
    if len(tuned) < patience:
        return False
    since = tuned[-patience].number
    before = _best([t for t in trials if t.number < since], model, goal)
    recent = _best(tuned[-patience:], model, goal)
    if recent is None or before is None:
        return recent is None  # every recent trial failed: stalled; nothing to beat: not
    return not goal.better(recent.value, goal.shifted(before.value, -_noise(before)))


def converged(trials: Sequence[FrozenTrial], model: str, goal: Direction) -> bool:
    """Stalled by repeating its best: the family's recent scored trials (at least two) all lie
    within the noise of its best. A small space that has nothing left to try, unlike a big one
    that explores without luck yet (its recent scores spread, or its trials were pruned)."""
    if not stalled(trials, model, goal):
        return False
    best = _best(trials, model, goal)
    recent = [t for t in _finished(trials, model)[-_patience(trials, model) :] if is_scored(t)]
    noise = _noise(best)
    return (best is not None and len(recent) >= 2
            and all(abs(t.value - best.value) <= noise for t in recent))  # fmt: skip


def _revivable(trials: Sequence[FrozenTrial], out: Sequence[str], goal: Direction) -> str | None:
    """The best-scoring family among ``out`` whose space was not explored: fewer tuned trials
    than its patience."""
    unexplored = [m for m in out if _best(trials, m, goal) is not None
                  and len(_tuned(trials, m)) < _patience(trials, m)]  # fmt: skip
    if not unexplored:
        return None
    return goal.ranked(unexplored, key=lambda m: _best(trials, m, goal).value)[0]


def next_family(study: optuna.Study, models: Sequence[str], goal: Direction) -> str:
    """The family the next tuned trial goes to (call it under the claim lock)."""
    state: dict[str, Any] = FAMILIES.get(study) or {"rung": 0, "alive": list(models)}
    trials = study.get_trials(deepcopy=False)
    while True:
        alive, rung = list(state["alive"]), int(state["rung"])
        quota = {m: state.get("until", {}).get(m, 2**rung) for m in alive}
        short = [m for m in alive if len(_tuned(trials, m)) < quota[m]]
        # A converged family keeps its place (its best still ranks) but takes no more of its
        # rungs while another family still explores: its trials would repeat its best.
        moving = [m for m in alive if not converged(trials, m, goal)] if len(alive) > 1 else alive
        if moving:
            short = [m for m in short if m in moving]
        if not short and len(alive) == 1 and stalled(trials, alive[0], goal):
            revived = state.get("revived", [])
            out = [m for m in models if m not in alive and m not in revived]
            back = _revivable(trials, out, goal)
            if back is not None:  # a rung of two: the stalled leader, and ``back`` up to its patience
                state = {
                    "rung": rung,
                    "alive": [alive[0], back],
                    "until": {back: _patience(trials, back)},
                    "revived": [*revived, back],
                    "history": [*state.get("history", []), {"rung": rung, "alive": alive}],
                }
                continue
        if short or len(alive) == 1:
            pick = min(short, key=lambda m: len(_tuned(trials, m))) if short else alive[0]
            if FAMILIES.get(study) != state:
                FAMILIES.set(study, state)
            return pick
        state = {
            "rung": rung + 1,
            "alive": survivors(alive, trials, goal),
            "revived": state.get("revived", []),
            "history": [*state.get("history", []), {"rung": rung, "alive": alive}],
        }


def quick_family(
    study: optuna.Study, models: Sequence[str], goal: Direction, fits: Callable[[str], bool]
) -> str | None:
    """Near the time budget's cut, when the family ``next_family`` picks cannot end a trial
    before it: the alive family, still moving (not converged), that can, the best-scoring
    first; None when there is none and the search should end.

    The rungs' order matters while there is time to follow it; in its last seconds a quicker
    family's trial is worth more than none.
    """
    state: dict[str, Any] = FAMILIES.get(study) or {"alive": list(models)}
    trials = study.get_trials(deepcopy=False)
    able = [m for m in state["alive"] if fits(m) and not converged(trials, m, goal)]
    scored = [(m, b) for m in able if (b := _best(trials, m, goal)) is not None]
    if not scored:
        return able[0] if able else None
    return goal.pick(scored, key=lambda mb: mb[1].value)[0]
