"""Ensembles as scikit-learn estimators: greedy selection and stacking on out-of-fold predictions.

Both learn how to combine members from out-of-fold (OOF) predictions, then refit every member
that counts on the whole training set. ``fit(X, y, oof=...)`` takes OOF predictions that were
already computed (Knobs keeps them for every trial, so this costs no extra fits); without them
the estimator computes them itself with ``cross_val_predict`` over ``cv``, so each class also
works standalone and passes scikit-learn's estimator checks.

scikit-learn's own ``StackingClassifier`` always recomputes OOF predictions in its internal CV,
which is exactly the cost stored predictions avoid; hence these classes. Voting needs no class of
ours: ``VotingClassifier`` / ``VotingRegressor`` with weights chosen on OOF predictions fit.

``X`` is handed to the members as given (a DataFrame stays a DataFrame, so Knobs pipelines find
their columns by name); it is only checked here (shape, feature count, no complex numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    TransformerMixin,
    clone,
    is_classifier,
)
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import check_cv, cross_val_predict
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from knobs.ensembles._combine import caruana
from knobs.metrics import PROBA, VALUE, get_metric


def _check_members(estimators: Any) -> list[tuple[str, BaseEstimator]]:
    if not isinstance(estimators, (list, tuple)) or len(estimators) == 0:
        raise ValueError(
            "`estimators` must be a non-empty list of (name, estimator) pairs, "
            f"but got {estimators!r}."
        )
    names = []
    for item in estimators:
        if not (isinstance(item, tuple) and len(item) == 2 and hasattr(item[1], "fit")):
            raise ValueError(
                f"Each entry of `estimators` must be a (name, estimator) pair; got {item!r}."
            )
        names.append(item[0])
    if len(set(names)) != len(names):
        raise ValueError(f"Member names must be unique; got {names}.")
    return list(estimators)


class _OOFEnsemble(BaseEstimator):
    """Shared plumbing: input checks, OOF predictions (given or computed), member refits."""

    def _check_X(self, X: Any, *, reset: bool) -> None:
        validate_data(
            self, X, reset=reset, dtype=None, ensure_all_finite=False, ensure_min_samples=1
        )

    def _check_Xy(self, X: Any, y: Any) -> np.ndarray:
        _, y_checked = validate_data(
            self, X, y, dtype=None, ensure_all_finite=False, ensure_min_samples=2,
            y_numeric=not is_classifier(self),
        )  # fmt: skip
        if is_classifier(self):
            check_classification_targets(y_checked)
        return np.asarray(y_checked)

    def _response(self) -> str:
        return "predict_proba" if is_classifier(self) else "predict"

    def _oof(self, members: list, X: Any, y: np.ndarray, oof: Sequence | None) -> list[np.ndarray]:
        n = len(y)
        if oof is not None:
            if len(oof) != len(members):
                raise ValueError(
                    f"`oof` must hold one prediction array per member ({len(members)}), "
                    f"but holds {len(oof)}."
                )
            arrays = [np.asarray(p, dtype=np.float64) for p in oof]
            for (name, _), a in zip(members, arrays, strict=True):
                if a.shape[0] != n:
                    raise ValueError(
                        f"OOF predictions of member `{name}` have {a.shape[0]} rows; X has {n}."
                    )
            return arrays
        cv = check_cv(self.cv, y, classifier=is_classifier(self))
        method = self._response()
        out = []
        for name, est in members:
            if not hasattr(est, method):
                raise ValueError(
                    f"Member `{name}` ({type(est).__name__}) has no `{method}`; "
                    "wrap it in CalibratedClassifierCV to get probabilities."
                )
            out.append(np.asarray(cross_val_predict(clone(est), X, y, cv=cv, method=method)))
        return out

    def _member_outputs(self, X: Any) -> list[np.ndarray]:
        method = self._response()
        return [np.asarray(getattr(est, method)(X), dtype=np.float64) for est in self.estimators_]


# --- greedy ensemble selection -------------------------------------------------------------------


class _Greedy(_OOFEnsemble):
    def _fit(self, X: Any, y: Any, oof: Sequence | None) -> _Greedy:
        members = _check_members(self.estimators)
        if not isinstance(self.n_iter, (int, np.integer)) or self.n_iter < 1:
            raise ValueError(f"`n_iter` must be an integer >= 1, but got {self.n_iter!r}.")
        y = self._check_Xy(X, y)
        if is_classifier(self):
            self.classes_ = np.unique(y)
            task = "binary" if len(self.classes_) <= 2 else "multiclass"
            default, kind = "log_loss", PROBA
        else:
            task, default, kind = "regression", "rmse", VALUE
        metric = get_metric(self.scoring or default, task)
        preds = self._oof(members, X, y, oof)
        classes = getattr(self, "classes_", None)

        def objective(p: np.ndarray) -> float:
            return metric.loss(metric.score_predictions(y, p, kind, classes))

        self.weights_ = caruana(preds, objective, self.n_iter)
        self.members_ = np.flatnonzero(self.weights_)
        self.estimators_ = [clone(members[i][1]).fit(X, y) for i in self.members_]
        return self

    def _blend(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        self._check_X(X, reset=False)
        outs = self._member_outputs(X)
        w = self.weights_[self.members_]
        return sum(wi * o for wi, o in zip(w, outs, strict=True)) / w.sum()


class GreedyEnsembleClassifier(ClassifierMixin, _Greedy):
    """Caruana's greedy ensemble selection over classifiers' out-of-fold probabilities.

    Parameters
    ----------
    estimators : list of (name, estimator)
        Candidate members; each needs ``predict_proba``.
    n_iter : int
        Selection rounds (members may be picked repeatedly; weights are pick counts).
    cv : int, splitter or iterable
        Folds for computing OOF predictions when ``fit`` is not given them.
    scoring : str or None
        Knobs metric name to optimize on the OOF predictions (default ``log_loss``).
    """

    def __init__(
        self,
        estimators: list[tuple[str, BaseEstimator]],
        *,
        n_iter: int = 50,
        cv: Any = 5,
        scoring: str | None = None,
    ) -> None:
        self.estimators = estimators
        self.n_iter = n_iter
        self.cv = cv
        self.scoring = scoring

    def fit(self, X: Any, y: Any, oof: Sequence | None = None) -> GreedyEnsembleClassifier:
        """Select weights on ``oof`` (one ``(n, n_classes)`` array per member) or computed OOF."""
        return self._fit(X, y, oof)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._blend(X)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class GreedyEnsembleRegressor(RegressorMixin, _Greedy):
    """Caruana's greedy ensemble selection over regressors' out-of-fold predictions.

    Same parameters as :class:`GreedyEnsembleClassifier`; ``scoring`` defaults to ``rmse``.
    """

    def __init__(
        self,
        estimators: list[tuple[str, BaseEstimator]],
        *,
        n_iter: int = 50,
        cv: Any = 5,
        scoring: str | None = None,
    ) -> None:
        self.estimators = estimators
        self.n_iter = n_iter
        self.cv = cv
        self.scoring = scoring

    def fit(self, X: Any, y: Any, oof: Sequence | None = None) -> GreedyEnsembleRegressor:
        return self._fit(X, y, oof)

    def predict(self, X: Any) -> np.ndarray:
        return self._blend(X)


# --- stacking ------------------------------------------------------------------------------------


def meta_features(preds: Sequence[np.ndarray], classifier: bool) -> np.ndarray:
    """The meta-learner's inputs: member outputs side by side.

    A binary classifier's two probability columns sum to one, so only the positive class's is
    kept (the other is redundant and makes linear meta-learners ill-posed).
    """
    cols = []
    for p in preds:
        p = np.asarray(p, dtype=np.float64)
        if p.ndim == 1:
            p = p[:, None]
        if classifier and p.shape[1] == 2:
            p = p[:, 1:]
        cols.append(p)
    return np.hstack(cols)


class _Stacking(_OOFEnsemble):
    def _default_final(self) -> BaseEstimator:
        raise NotImplementedError

    def _passthrough_features(self, X: Any, *, fit: bool) -> np.ndarray | None:
        if self.passthrough is False or self.passthrough is None:
            return None
        if self.passthrough is True:
            return check_array(X, dtype=np.float64, ensure_all_finite=False)
        if fit:
            self.passthrough_ = clone(self.passthrough).fit(X, self._y_fit)
        return np.asarray(self.passthrough_.transform(X), dtype=np.float64)

    def _stack(self, preds: Sequence[np.ndarray], X: Any, *, fit: bool) -> np.ndarray:
        meta = meta_features(preds, is_classifier(self))
        extra = self._passthrough_features(X, fit=fit)
        return meta if extra is None else np.hstack([meta, extra])

    def _fit(self, X: Any, y: Any, oof: Sequence | None) -> _Stacking:
        members = _check_members(self.estimators)
        if not (
            isinstance(self.passthrough, bool)
            or self.passthrough is None
            or isinstance(self.passthrough, TransformerMixin)
            or hasattr(self.passthrough, "transform")
        ):
            raise ValueError(
                f"`passthrough` must be True, False or a transformer; got {self.passthrough!r}."
            )
        y = self._check_Xy(X, y)
        if is_classifier(self):
            self.classes_ = np.unique(y)
        preds = self._oof(members, X, y, oof)
        self._y_fit = y
        try:
            meta = self._stack(preds, X, fit=True)
        finally:
            del self._y_fit
        final = self.final_estimator if self.final_estimator is not None else self._default_final()
        self.final_estimator_ = clone(final).fit(meta, y)
        self.estimators_ = [clone(est).fit(X, y) for _, est in members]
        return self

    def _meta(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        self._check_X(X, reset=False)
        return self._stack(self._member_outputs(X), X, fit=False)


class StackingEnsembleClassifier(ClassifierMixin, _Stacking):
    """Stacking whose meta-learner learns from out-of-fold probabilities given to ``fit``.

    Parameters
    ----------
    estimators : list of (name, estimator)
        Members; each needs ``predict_proba``. All are refitted on the whole training set.
    final_estimator : classifier or None
        The meta-learner (default: logistic regression).
    passthrough : bool or transformer
        Also give the meta-learner the features: ``True`` for numeric ``X`` as is, or a
        transformer (fitted on ``X``) that turns a mixed table into numbers.
    cv : int, splitter or iterable
        Folds for computing OOF predictions when ``fit`` is not given them.
    """

    def __init__(
        self,
        estimators: list[tuple[str, BaseEstimator]],
        *,
        final_estimator: BaseEstimator | None = None,
        passthrough: bool | BaseEstimator = False,
        cv: Any = 5,
    ) -> None:
        self.estimators = estimators
        self.final_estimator = final_estimator
        self.passthrough = passthrough
        self.cv = cv

    def _default_final(self) -> BaseEstimator:
        return LogisticRegression(max_iter=2000)

    def fit(self, X: Any, y: Any, oof: Sequence | None = None) -> StackingEnsembleClassifier:
        return self._fit(X, y, oof)

    def predict_proba(self, X: Any) -> np.ndarray:
        meta = self._meta(X)
        return self.final_estimator_.predict_proba(meta)

    def predict(self, X: Any) -> np.ndarray:
        meta = self._meta(X)
        return self.final_estimator_.predict(meta)


class StackingEnsembleRegressor(RegressorMixin, _Stacking):
    """Stacking for regression; the meta-learner defaults to ridge with a built-in alpha search.

    Same parameters as :class:`StackingEnsembleClassifier`.
    """

    def __init__(
        self,
        estimators: list[tuple[str, BaseEstimator]],
        *,
        final_estimator: BaseEstimator | None = None,
        passthrough: bool | BaseEstimator = False,
        cv: Any = 5,
    ) -> None:
        self.estimators = estimators
        self.final_estimator = final_estimator
        self.passthrough = passthrough
        self.cv = cv

    def _default_final(self) -> BaseEstimator:
        return RidgeCV(alphas=np.logspace(-3, 3, 13))

    def fit(self, X: Any, y: Any, oof: Sequence | None = None) -> StackingEnsembleRegressor:
        return self._fit(X, y, oof)

    def predict(self, X: Any) -> np.ndarray:
        meta = self._meta(X)
        return self.final_estimator_.predict(meta)


# A stable import path for saved models (skops records ``module.qualname``): the public package,
# not this private module, so the file can move without breaking models exported before.
for _cls in (
    GreedyEnsembleClassifier,
    GreedyEnsembleRegressor,
    StackingEnsembleClassifier,
    StackingEnsembleRegressor,
):
    _cls.__module__ = "knobs.ensembles"
