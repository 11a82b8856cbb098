"""What an ensemble build is asked to do: one typed, frozen, validated object.

The CLI, the Ensemble page and the Python API build the same :class:`Options`, so a bad value
fails the same way everywhere: a :class:`knobs.errors.ConfigError` that names the option, the
rule, the value received and the fix, before any study is opened. Only the combination settings
(:data:`STORED`) are kept with an ensemble; they are enough to rebuild it.

Light on purpose (no numpy, no scikit-learn): ``knobs --help`` reads the defaults from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from knobs.errors import ConfigError

#: How members are combined: a weighted average, a meta-learner, or greedy selection.
KINDS = ("voting", "stacking", "greedy")
#: Voting classifiers average probabilities (soft) or count predicted labels (hard).
VOTINGS = ("soft", "hard")
#: Voting weights: learned on the out-of-fold predictions, or all the same.
WEIGHTINGS = ("optimized", "equal")
#: The options kept with an ensemble, in the order its stored definition lists them.
STORED = ("kind", "voting", "weights", "meta", "passthrough", "n_iter")

TOP_RANGE = (2, 50)
N_ITER_RANGE = (1, 1000)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_top(top: object) -> None:
    """``top`` is how many candidate trials to load; :func:`candidates` checks it too."""
    low, high = TOP_RANGE
    if not _whole(top) or not low <= top <= high:  # type: ignore[operator]
        raise ConfigError(
            f"`top` (candidates per ensemble) must be a whole number between {low} and {high}, "
            f"but got {top!r}; ask for at least {low} trials to combine."
        )


def _check_choice(name: str, value: object, allowed: Sequence[str], fix: str) -> None:
    if value not in allowed:
        choices = " or ".join(repr(a) for a in allowed)
        raise ConfigError(f"`{name}` must be {choices}, but got {value!r}; {fix}.")


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"`{name}` must be True or False, but got {value!r}.")


@dataclass(frozen=True)
class Options:
    """How to build an ensemble: which candidates, how to combine them, what to score.

    ``kind`` picks the combination; ``voting`` and ``weights`` apply to voting, ``meta`` and
    ``passthrough`` to stacking, ``n_iter`` to greedy selection; the others are ignored by the
    kinds they do not apply to. ``top``, ``diverse`` and ``recompute`` choose the candidates
    (see :func:`knobs.ensembles.candidates`); ``evaluate_test`` refits the members to score the
    held-out test split.
    """

    kind: str
    top: int = 5  # candidate trials, best first
    diverse: bool = False  # prefer other model families and weakly correlated predictions
    recompute: bool = True  # recompute missing out-of-fold predictions (else leave them out)
    voting: str = "soft"  # voting classifiers: "soft" | "hard"; regressors average
    weights: str = "optimized"  # voting: "optimized" | "equal"
    meta: str | None = None  # stacking: a model name (default logistic / linear)
    passthrough: bool = False  # stacking: the meta-learner also sees the features
    n_iter: int = 50  # greedy: selection rounds
    evaluate_test: bool = True  # score the held-out test split next to the best single model

    def __post_init__(self) -> None:
        _check_choice(
            "kind", self.kind, KINDS,
            "pick how members are combined: a weighted average, a meta-learner, or greedy "
            "selection",
        )  # fmt: skip
        check_top(self.top)
        _check_choice(
            "voting", self.voting, VOTINGS,
            "'soft' averages class probabilities, 'hard' counts predicted labels",
        )  # fmt: skip
        _check_choice(
            "weights", self.weights, WEIGHTINGS,
            "'optimized' learns them on the out-of-fold predictions, 'equal' averages",
        )  # fmt: skip
        if self.meta is not None and (not isinstance(self.meta, str) or not self.meta.strip()):
            raise ConfigError(
                f"`meta` (the stacking meta-learner) must be a model name such as 'logistic' "
                f"or None for the default, but got {self.meta!r}."
            )
        low, high = N_ITER_RANGE
        if not _whole(self.n_iter) or not low <= self.n_iter <= high:
            raise ConfigError(
                f"`n_iter` (greedy selection rounds) must be a whole number between {low} and "
                f"{high}, but got {self.n_iter!r}; the default 50 is usually enough."
            )
        for name in ("diverse", "recompute", "passthrough", "evaluate_test"):
            _check_flag(name, getattr(self, name))

    @classmethod
    def of(cls, options: Options | str, **settings: Any) -> Options:
        """``options`` as it is, or built from a kind's name and keyword settings.

        The short form, ``Options.of("greedy", top=3)``, serves scripts and tests that name a
        few settings; an unknown setting is refused with the list of known ones.
        """
        if isinstance(options, Options):
            if settings:
                raise ConfigError(
                    f"Settings {sorted(settings)} were given beside an Options object; put them "
                    "in the Options (`dataclasses.replace(options, ...)`)."
                )
            return options
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ConfigError(f"Unknown ensemble option(s) {unknown}; the options are {known[1:]}.")
        return cls(kind=options, **settings)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> Options:
        """The options of a kept ensemble (its definition's ``options``)."""
        return cls(**{k: v for k, v in data.items() if k in STORED})

    def stored(self) -> dict[str, Any]:
        """The combination settings kept with the ensemble (the report's ``options``)."""
        return {name: getattr(self, name) for name in STORED}

    def hard_votes(self, task: str) -> bool:
        """Hard voting counts labels, which only classifiers have."""
        return self.kind == "voting" and self.voting == "hard" and task != "regression"

    @property
    def learns_combination(self) -> bool:
        """Whether anything is learned on the out-of-fold predictions (then the CV is nested)."""
        return self.kind != "voting" or self.weights == "optimized"
