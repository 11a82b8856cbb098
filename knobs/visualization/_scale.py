"""Charts of big studies: bounded work and a bounded number of drawn points.

A search left overnight reaches 10,000 trials. Drawn as they are, its charts cost seconds each
(Optuna's plots copy every trial into an in-memory study first, ~0.3 ms a trial), the browser
chokes on 10,000 lines of parallel coordinates, and fANOVA on every trial takes minutes while the
one server process serves everybody. So charts of big studies are fed a subset, chosen here,
deterministically (the same trials on every refresh and for every user):

- :func:`thin` keeps what a reader looks for exactly, every trial that set a new best (so the
  best-so-far line is the true one), the best trials and the defaults trials, and spaces the
  rest evenly by trial number up to a cap;
- :func:`thin_history` does the same to the live view's :class:`History` and keeps only the
  corners of the best-so-far steps (the line is unchanged);
- parameter importance is bounded in ``_importance`` (a seeded sample, PED-ANOVA above a size);
- :func:`trials_key` is what a shared cache of a study's charts is keyed on besides the study:
  it changes whenever a trial is added or finishes.

Every subset says what it is (:attr:`Thinned.note`), and the pages print it under the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from knobs.errors import ConfigError
from knobs.metrics import direction as as_direction
from knobs.study import is_scored
from knobs.study.keys import BASELINE

from ._history import History, TrialPoint

#: Points our own scatter charts draw at most (the live view's scores chart).
MAX_POINTS = 2_000
#: Trials one of Optuna's plots is fed at most (history, EDF, slice, contour, parallel, timeline).
PLOT_TRIALS = 1_000
#: Trials drawn as lines at most (parallel coordinates; Optuna's plot takes ~1 s per 1,000).
PARALLEL_TRIALS = 500
#: Trials drawn as lines at most (per-fold intermediate values: one line per trial).
LINE_TRIALS = 300
#: Counts up to this are exact in :func:`coarse_count`; above, two significant digits.
EXACT_COUNT = 100
#: The best trials every thinned chart keeps, whatever the cap.
TOP_KEPT = 50


@dataclass(frozen=True)
class Thinned:
    """The trials a chart draws, out of how many, and how they were chosen."""

    trials: list[FrozenTrial]
    total: int
    how: str = "the best-so-far steps and the best trials exactly, the rest evenly spaced"

    @property
    def thinned(self) -> bool:
        return len(self.trials) < self.total

    @property
    def note(self) -> str:
        """``Drawn from 1,000 of 10,000 trials: ...``; empty when every trial is drawn."""
        if not self.thinned:
            return ""
        return f"Drawn from {len(self.trials):,} of {self.total:,} trials: {self.how}."


def trials_key(trials: Sequence[FrozenTrial]) -> tuple[int, int, int]:
    """(trials, finished, complete): changes when a trial is added or finishes.

    What a cache of a study's charts is keyed on, with the study's name and storage: charts are
    drawn from finished trials, so nothing they show changes between two changes of this key.
    """
    finished = sum(1 for t in trials if t.state.is_finished())
    complete = sum(1 for t in trials if t.state == TrialState.COMPLETE)
    return (len(trials), finished, complete)


def coarse_count(n: int) -> int:
    """``n`` exact up to :data:`EXACT_COUNT`, else rounded down to two significant digits
    (4,575 -> 4,500): what sampled results (importance) of a running big study are keyed on, so
    they are recomputed every ~1-10% more trials rather than on every finished trial."""
    if n <= EXACT_COUNT:
        return n
    step = 10 ** (len(str(n)) - 2)
    return n - n % step


def _check_cap(cap: int) -> None:
    if cap < 1:
        raise ConfigError(f"A chart's point cap must be >= 1, but got cap={cap}.")


def _improving(values: Sequence[tuple[int, float]], direction: str) -> list[int]:
    """Indices (into ``values``) of the entries that set a new best, in order."""
    d = as_direction(direction)
    out: list[int] = []
    best: float | None = None
    for i, (_, v) in enumerate(values):
        if best is None or d.better(v, best):
            best = v
            out.append(i)
    return out


def _top(values: Sequence[tuple[int, float]], direction: str, k: int) -> list[int]:
    """Indices of the ``k`` best entries (ties broken by position: deterministic)."""
    d = as_direction(direction)
    order = sorted(range(len(values)), key=lambda i: (d.loss(values[i][1]), i))
    return order[:k]


def _even(candidates: Sequence[int], k: int) -> list[int]:
    """``k`` of ``candidates`` evenly spaced, the first and last included."""
    if k <= 0 or not candidates:
        return []
    if k >= len(candidates):
        return list(candidates)
    picks = np.linspace(0, len(candidates) - 1, k).round().astype(int)
    return [candidates[i] for i in sorted(set(picks.tolist()))]


def _keep(
    n: int,
    scored: Sequence[tuple[int, float]],
    must: set[int],
    direction: str,
    cap: int,
    top: int,
) -> list[int]:
    """Positions (0..n-1) to keep: ``must``, then the improving and best of ``scored`` (pairs of
    position and value), then evenly spaced positions up to ``cap`` in all."""
    keep = set(must)
    keep.update(scored[i][0] for i in _improving(scored, direction))
    keep.update(scored[i][0] for i in _top(scored, direction, min(top, cap)))
    rest = [i for i in range(n) if i not in keep]
    keep.update(_even(rest, cap - len(keep)))
    return sorted(keep)


def thin(
    trials: Sequence[FrozenTrial], direction: str, *, cap: int = PLOT_TRIALS, top: int = TOP_KEPT
) -> Thinned:
    """At most about ``cap`` of ``trials`` for a chart, by trial number; see the module doc.

    The improving trials are always kept, so on a long search with many improvements the result
    may exceed ``cap`` by their count (they are what a history chart is about).
    """
    _check_cap(cap)
    ordered = sorted(trials, key=lambda t: t.number)
    if len(ordered) <= cap:
        return Thinned(ordered, len(ordered))
    scored = [(i, float(t.value)) for i, t in enumerate(ordered) if is_scored(t)]
    must = {i for i, t in enumerate(ordered) if BASELINE.get(t)}
    keep = _keep(len(ordered), scored, must, direction, cap, top)
    return Thinned([ordered[i] for i in keep], len(ordered))


def _step_corners(steps: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """The corners of a best-so-far step line (drawn with ``shape="hv"``): each change and the
    last point. The line through them is the line through every point."""
    if not steps:
        return ()
    out = [steps[0]]
    for s in steps[1:]:
        if s[1] != out[-1][1]:
            out.append(s)
    if out[-1] != steps[-1]:
        out.append(steps[-1])
    return tuple(out)


def thin_history(h: History, *, cap: int = MAX_POINTS, top: int = TOP_KEPT) -> History:
    """``h`` with at most about ``cap`` points and its best-so-far lines cut to their corners.

    The counts (failed, pruned, interrupted), the baseline and the best are those of every
    trial; only what is drawn as a marker is thinned.
    """
    _check_cap(cap)
    points: tuple[TrialPoint, ...] = h.points
    if len(points) > cap:
        scored = [(i, p.value) for i, p in enumerate(points) if p.value is not None]
        must = {i for i, p in enumerate(points) if p.baseline}
        keep = _keep(len(points), scored, must, h.direction, cap, top)
        points = tuple(points[i] for i in keep)
    return replace(
        h,
        points=points,
        best_by_number=_step_corners(h.best_by_number),
        best_by_time=_step_corners(h.best_by_time),
    )


def history_note(full: History, drawn: History) -> str:
    """What the live view's scores chart leaves out, in words (empty when nothing)."""
    if len(drawn.points) >= len(full.points):
        return ""
    return (
        f"Drawn from {len(drawn.points):,} of {len(full.points):,} finished trials: the "
        "best-so-far steps, the best trials and the defaults exactly, the rest evenly spaced."
    )
