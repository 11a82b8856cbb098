"""Metrics by the names users know: one row each, scoring a fitted model or stored predictions.

Scores are reported in their natural units (RMSE is positive and minimized), not as the negated
values scikit-learn's scorers return, so a study's objective reads the way the user asked for it.

A metric is declared once, as a row of ``METRICS``: its label, its :class:`Direction`, the kind of
prediction it reads, the scikit-learn scorer that scores a fitted estimator and the function that
scores predictions without one. Trials that keep their out-of-fold predictions score folds from
them (one prediction pass instead of two), and ensembles score thousands of candidate blends, so
both paths must agree: tests check them against each other on real fits. Adding a metric is one
row here; the CLI, the Search page and every verdict read this table.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
from sklearn import metrics as skm
from sklearn.metrics import get_scorer

from knobs.errors import ConfigError

T = TypeVar("T")

#: Prediction kinds kept for a trial: class probabilities (n, k), decision values, values (n,).
PROBA, DECISION, VALUE = "proba", "decision", "value"
#: What a metric reads from the predictions: predicted labels, a continuous score (ranking), or
#: calibrated probabilities, or regression values.
Reads = Literal["labels", "scores", "probabilities", "values"]


class Direction(str):
    """``"maximize"`` or ``"minimize"``: the one place that knows which of two scores is better.

    A ``str`` subclass so it compares, serializes and stores as the plain word Optuna uses.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Direction:
        value = str(value).lower()
        if value not in ("maximize", "minimize"):
            raise ConfigError(f"A direction is `maximize` or `minimize`, but got {value!r}.")
        return super().__new__(cls, value)

    @property
    def maximize(self) -> bool:
        return self == "maximize"

    def better(self, a: float, b: float) -> bool:
        """Is ``a`` strictly better than ``b``?"""
        return a > b if self.maximize else a < b

    def gain(self, new: float, old: float) -> float:
        """How much better ``new`` is than ``old``, positive when it is better."""
        return new - old if self.maximize else old - new

    def loss(self, score: float) -> float:
        """A number to minimize, whatever the direction."""
        return -score if self.maximize else score

    def best(self, values: Iterable[float]) -> float:
        return max(values) if self.maximize else min(values)

    def pick(self, items: Iterable[T], key: Callable[[T], float]) -> T:
        """The item with the best ``key``."""
        return max(items, key=key) if self.maximize else min(items, key=key)

    def ranked(self, items: Iterable[T], key: Callable[[T], float]) -> list[T]:
        """Items best first."""
        return sorted(items, key=key, reverse=self.maximize)

    def shifted(self, best: float, slack: float) -> float:
        """A score ``slack`` worse than ``best``."""
        return best - slack if self.maximize else best + slack


MAXIMIZE = Direction("maximize")
MINIMIZE = Direction("minimize")


def direction(value: str) -> Direction:
    """``Direction`` from a stored word (plans keep it as text)."""
    return value if isinstance(value, Direction) else Direction(value)


def _positive_score(pred: np.ndarray, kind: str) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim == 1:
        return pred
    return pred[:, 1] if kind == PROBA else pred[:, -1]


def labels_from(pred: np.ndarray, kind: str, classes: np.ndarray) -> np.ndarray:
    """Predicted labels from probabilities (arg-max) or decision values (sign / arg-max)."""
    pred = np.asarray(pred)
    if kind == DECISION and pred.ndim == 1:
        return classes[(pred > 0).astype(int)]
    return classes[np.argmax(pred, axis=1)]


# What each kind of metric does with stored predictions. Probabilities are passed as they are:
# ``log_loss`` clips at the dtype's epsilon itself (clipping at 1e-15 here changed k-NN's log loss).
def _on_values(fn: Callable[..., float]) -> Callable[..., float]:
    return lambda y, pred, kind, cls: fn(y, np.asarray(pred, dtype=np.float64))


def _on_labels(fn: Callable[..., float], **kw: object) -> Callable[..., float]:
    return lambda y, pred, kind, cls: fn(y, labels_from(pred, kind, cls), **kw)


def _on_binary_labels(fn: Callable[..., float]) -> Callable[..., float]:
    return lambda y, pred, kind, cls: fn(
        y, labels_from(pred, kind, cls), pos_label=cls[-1], zero_division=0
    )


def _on_positive(fn: Callable[..., float]) -> Callable[..., float]:
    return lambda y, pred, kind, cls: fn(y == cls[-1], _positive_score(pred, kind))


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of a binary task, as the Mann-Whitney U statistic over the two classes' scores
    (AUC = U / (n_pos x n_neg), ties counted half: the same number as ``roc_auc_score``).

    Why not scikit-learn's: its input checks cost ~2 ms a call on any size, and the final
    ensemble's greedy selection scores ~1,500 candidate blends, seconds of a short time budget;
    SciPy's U costs a third of that. One class alone: scikit-learn's answer."""
    from scipy.stats import mannwhitneyu

    positive = np.asarray(positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return skm.roc_auc_score(positive, score)  # undefined: its nan and warning
    u = mannwhitneyu(score[positive], score[~positive], method="asymptotic", use_continuity=False)
    return float(u.statistic) / (n_pos * n_neg)


def _roc_auc_ovr(y: np.ndarray, pred: np.ndarray, kind: str, cls: np.ndarray) -> float:
    if len(cls) == 2:
        return _binary_auc(y == cls[-1], _positive_score(pred, kind))
    return skm.roc_auc_score(y, np.asarray(pred, dtype=np.float64), multi_class="ovr", labels=cls)


def _log_loss(y: np.ndarray, pred: np.ndarray, kind: str, cls: np.ndarray) -> float:
    return skm.log_loss(y, np.asarray(pred, dtype=np.float64), labels=cls)


@dataclass(frozen=True)
class Metric:
    """One metric: how it reads, which way is better, and how it scores.

    ``reads`` says what it needs from a model: ``labels`` work from any classifier (and hard
    votes), ``scores`` need a ranking (probabilities or decision values), ``probabilities`` need
    calibrated class probabilities (a model without ``predict_proba`` is calibrated for it).
    """

    name: str
    label: str
    scorer: str  # scikit-learn scorer name, for fitted estimators
    direction: Direction
    tasks: frozenset[str]
    reads: Reads
    on_predictions: Callable[[np.ndarray, np.ndarray, str, np.ndarray], float]

    @property
    def perfect(self) -> float:
        """The score nothing can beat: every maximized metric here peaks at 1 (R² too) and every
        loss bottoms out at 0. A search ends once a trial scores it on every fold."""
        return 1.0 if self.direction.maximize else 0.0

    @property
    def in_words(self) -> str:
        """The label inside a sentence, where "(lower is better)" would read as a second aside."""
        return self.label.replace(" (lower is better)", "")

    @property
    def needs_proba(self) -> bool:
        return self.reads == "probabilities"

    @property
    def needs_scores(self) -> bool:
        """Hard labels cannot serve it (ROC AUC, average precision, log loss)."""
        return self.reads in ("scores", "probabilities")

    @property
    def sign(self) -> float:
        """Factor from the scorer's value to the reported value (scorers negate losses)."""
        return -1.0 if self.scorer.startswith("neg_") else 1.0

    def score(self, estimator, X, y) -> float:  # noqa: ANN001 - any fitted estimator
        """The metric of a fitted estimator on ``X``, ``y`` (scikit-learn's scorer)."""
        return self.sign * float(get_scorer(self.scorer)(estimator, X, y))

    def score_predictions(
        self, y: np.ndarray, pred: np.ndarray, kind: str, classes: Sequence | None = None
    ) -> float:
        """The metric of predictions ``pred`` (of ``kind``) against the true ``y``.

        ``classes`` are the sorted labels, the column order of probabilities (scikit-learn's
        ``classes_``); the positive class of a binary task is the last one, as in its scorers.
        """
        if self.needs_proba and kind != PROBA:
            raise ConfigError(
                f"Metric `{self.name}` needs class probabilities, but these predictions are "
                f"{kind} values."
            )
        y = np.asarray(y)
        cls = np.asarray(classes if classes is not None else np.unique(y))
        return float(self.on_predictions(y, pred, kind, cls))

    def fold_score(
        self,
        y: np.ndarray,
        pred: np.ndarray,
        kind: str,
        folds: Sequence[tuple[np.ndarray, np.ndarray]],
        classes: Sequence | None = None,
    ) -> tuple[float, list[float]]:
        """Mean of the per-fold scores, the way a study scores a trial (not one pooled score)."""
        scores = [
            self.score_predictions(y[valid], pred[valid], kind, classes) for _, valid in folds
        ]
        return float(np.mean(scores)), scores

    def better(self, a: float, b: float) -> bool:
        return self.direction.better(a, b)

    def loss(self, score: float) -> float:
        """A number to minimize, whatever the metric's direction."""
        return self.direction.loss(score)


_C = frozenset({"binary", "multiclass"})
_B = frozenset({"binary"})
_R = frozenset({"regression"})
_UP, _DOWN = MAXIMIZE, MINIMIZE

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", "ROC AUC", "roc_auc", _UP, _B, "scores", _on_positive(_binary_auc)),
        Metric("roc_auc_ovr", "ROC AUC (one-vs-rest)", "roc_auc_ovr", _UP, _C, "probabilities",
               _roc_auc_ovr),
        Metric("accuracy", "accuracy", "accuracy", _UP, _C, "labels",
               _on_labels(skm.accuracy_score)),
        Metric("balanced_accuracy", "balanced accuracy", "balanced_accuracy", _UP, _C, "labels",
               _on_labels(skm.balanced_accuracy_score)),
        Metric("f1", "F1", "f1", _UP, _B, "labels", _on_binary_labels(skm.f1_score)),
        Metric("f1_macro", "F1 (macro)", "f1_macro", _UP, _C, "labels",
               _on_labels(skm.f1_score, average="macro")),
        Metric("f1_weighted", "F1 (weighted)", "f1_weighted", _UP, _C, "labels",
               _on_labels(skm.f1_score, average="weighted")),
        Metric("precision", "precision", "precision", _UP, _B, "labels",
               _on_binary_labels(skm.precision_score)),
        Metric("recall", "recall", "recall", _UP, _B, "labels",
               _on_binary_labels(skm.recall_score)),
        Metric("average_precision", "average precision", "average_precision", _UP, _B, "scores",
               _on_positive(skm.average_precision_score)),
        Metric("log_loss", "log loss (lower is better)", "neg_log_loss", _DOWN, _C,
               "probabilities", _log_loss),
        Metric("r2", "R²", "r2", _UP, _R, "values", _on_values(skm.r2_score)),
        Metric("rmse", "RMSE (lower is better)", "neg_root_mean_squared_error", _DOWN, _R,
               "values", _on_values(skm.root_mean_squared_error)),
        Metric("mse", "MSE (lower is better)", "neg_mean_squared_error", _DOWN, _R, "values",
               _on_values(skm.mean_squared_error)),
        Metric("mae", "MAE (lower is better)", "neg_mean_absolute_error", _DOWN, _R, "values",
               _on_values(skm.mean_absolute_error)),
        Metric("mape", "MAPE (lower is better)", "neg_mean_absolute_percentage_error", _DOWN, _R,
               "values", _on_values(skm.mean_absolute_percentage_error)),
        Metric("median_ae", "median absolute error (lower is better)",
               "neg_median_absolute_error", _DOWN, _R, "values",
               _on_values(skm.median_absolute_error)),
    )
}  # fmt: skip

_ALIASES = {
    "auc": "roc_auc",
    "neg_log_loss": "log_loss",
    "logloss": "log_loss",
    "acc": "accuracy",
    "neg_root_mean_squared_error": "rmse",
    "neg_mean_squared_error": "mse",
    "neg_mean_absolute_error": "mae",
    "neg_mean_absolute_percentage_error": "mape",
}

DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}

#: The constant a metric is fairest to (``constant_cv``): absolute errors are smallest around the
#: median; every other regression metric is scored against the mean, classification metrics
#: against the class shares.
_MEDIAN_METRICS = frozenset({"mae", "median_ae", "mape"})


def constant_is_median(metric: Metric) -> bool:
    """Whether ``constant_cv`` predicts the median (else the mean or the class shares)."""
    return metric.name in _MEDIAN_METRICS


def constant_cv(
    metric: Metric,
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
) -> float | None:
    """The cross-validated score of a model that ignores every column: each fold predicts its
    training part's median or mean (regression) or class shares, scored like any trial.

    Why: a search ranked by MAE on a target with a few huge values delivered a model at MAE 347
    where the median alone scores 177, and nothing said so; a model is only worth its columns
    if it beats this. None when a fold's score cannot be computed (one class in a fold).
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor

    y = np.asarray(y)
    regression = "regression" in metric.tasks
    kind = VALUE if regression else PROBA
    cls = np.unique(y)  # sorted, as a classifier's ``classes_``: the positive class last
    pred = np.zeros(len(y)) if regression else np.zeros((len(y), len(cls)))
    for train, valid in folds:
        blank = np.zeros((len(train), 1))
        if regression:
            strategy = "median" if constant_is_median(metric) else "mean"
            model = DummyRegressor(strategy=strategy).fit(blank, y[train])
            pred[valid] = model.predict(np.zeros((len(valid), 1)))
        else:
            model = DummyClassifier(strategy="prior").fit(blank, y[train])
            shares = model.predict_proba(np.zeros((len(valid), 1)))
            columns = np.searchsorted(cls, model.classes_)
            pred[np.ix_(valid, columns)] = shares
    try:
        with np.errstate(all="ignore"):
            score, _ = metric.fold_score(y, pred, kind, folds, cls)
    except ValueError:
        return None
    return score if math.isfinite(score) else None


def fold_noise(fold_scores: Sequence[float | None]) -> float | None:
    """The noise of a score that is a mean over folds: their standard error, std / sqrt(folds).

    Two scores that differ by less than this cannot be told apart by the cross-validation
    itself (the race's verdicts and ``--models auto`` both judge leads against it).
    """
    scores = [s for s in fold_scores if s is not None and np.isfinite(s)]
    if len(scores) < 2:
        return None
    return float(np.std(scores, ddof=1) / np.sqrt(len(scores)))


#: The smallest CV gain that counts, whatever the folds say.
MIN_GAIN = 1e-4
#: Two-sided confidence of the margin below.
CONFIDENCE = 0.95

#: The one rule every verdict follows (ensembles, the search's final model, the race), in words.
RULE = (
    "a difference counts only beyond its 95% margin: the t quantile with k-1 degrees of freedom "
    "times the standard error of the k paired per-fold differences (at least 1e-4); a gain "
    "beyond it is a gain, a loss beyond it a loss, anything between is within the noise"
)


@functools.lru_cache(maxsize=64)
def _t_quantile(n: int) -> float:
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 + CONFIDENCE / 2, n - 1))


def margin(se: float | None, n: int) -> float:
    """The rule's margin for a mean over ``n`` paired folds whose standard error is ``se``.

    Why t and not one standard error: with 3 to 5 folds the standard error is itself a rough
    guess, and one of it is exceeded by chance about a third of the time; the t quantile (4.30
    for 3 folds, 2.78 for 5) pays for that. Fewer than two folds cannot show how much they
    disagree: the margin is then infinite (nothing counts).
    """
    if n < 2 or se is None or not math.isfinite(se):
        return math.inf
    return max(MIN_GAIN, _t_quantile(n) * se)


def noise_floor(fold_gains: Sequence[float]) -> float:
    """The margin a mean of the paired per-fold gains must exceed to count (:data:`RULE`)."""
    k = len(fold_gains)
    se = float(np.std(fold_gains, ddof=1) / math.sqrt(k)) if k > 1 else None
    return margin(se, k)


def call(gain: float, floor: float) -> str:
    """``"gain"``, ``"loss"`` or ``"tie"``: a difference (> 0 better) judged by the rule."""
    if gain > floor:
        return "gain"
    if gain < -floor:
        return "loss"
    return "tie"


def margin_words(floor: float, n: int) -> str:
    """How a verdict states the margin it used: ``95% margin ±0.0013 from 3 folds``."""
    if not math.isfinite(floor):
        return f"no margin can be told from {n} fold{'s' if n != 1 else ''}"
    from knobs.formatting import fmt_score

    return f"95% margin ±{fmt_score(floor)} from {n} folds"


def metric_names(task: str) -> list[str]:
    """The metrics that fit ``task``, its default first (the order a form offers them)."""
    default = DEFAULT_METRIC[task]
    return [default] + [n for n, m in METRICS.items() if task in m.tasks and n != default]


def metric_label(name: str | None) -> str:
    """How a metric reads on screen; an unknown name reads as itself."""
    metric = METRICS.get(name or "")
    return metric.label if metric else (name or "")


def get_metric(name: str | None, task: str) -> Metric:
    """The metric called ``name`` for ``task``; the task's default when ``name`` is None."""
    key = DEFAULT_METRIC[task] if name is None else name.strip().lower()
    key = _ALIASES.get(key, key)
    if key == "roc_auc" and task == "multiclass":
        key = "roc_auc_ovr"
    metric = METRICS.get(key)
    allowed = sorted(n for n, m in METRICS.items() if task in m.tasks)
    if metric is None:
        raise ConfigError(f"Unknown metric `{name}`. For a {task} task use one of: {allowed}.")
    if task not in metric.tasks:
        raise ConfigError(f"Metric `{name}` does not fit a {task} task; use one of: {allowed}.")
    return metric
