"""The feature preprocessor: one ColumnTransformer per dataset, built from the column profiles.

Each branch starts by coercing its columns to the kind decided at profiling time, so the fitted
pipeline also accepts new rows as a CSV reader delivers them: a categorical column that is entirely
missing arrives as floats, a boolean as "Yes"/"No", a date as text. Every class here follows the
scikit-learn estimator contract (parameters stored as given in ``__init__``, learned attributes end
in ``_``), so pipelines clone, cross-validate and save with skops; there are no lambdas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from knobs.data import _clean
from knobs.data._profile import ColumnProfile
from knobs.errors import DataError

if TYPE_CHECKING:
    from knobs.data._prepare import Dataset

MISSING = "__missing__"
DATE_PARTS = ("year", "month", "day", "weekday", "hour")


def _as_frame(X: object, name: str) -> pd.DataFrame:
    """Validate X the way scikit-learn's check_array would, but keep strings and mixed columns."""
    if sp.issparse(X):
        raise TypeError(f"{name} does not support sparse input: pass a dense array or a DataFrame.")
    if isinstance(X, pd.DataFrame):
        frame = X
    elif isinstance(X, pd.Series):
        frame = X.to_frame()
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise ValueError(
                f"Expected 2D array, got {array.ndim}D array instead. Reshape your data either "
                "using array.reshape(-1, 1) if your data has a single feature or "
                "array.reshape(1, -1) if it contains a single sample."
            )
        frame = pd.DataFrame(array)
    if any(np.issubdtype(t, np.complexfloating) for t in frame.dtypes if isinstance(t, np.dtype)):
        raise ValueError("Complex data not supported.")
    return frame


class _ColumnsMixin(TransformerMixin, BaseEstimator):
    """Record the input columns at fit time; shared by the small transformers below."""

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are expected: later steps impute them
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags

    def _remember(self, X: object) -> pd.DataFrame:
        frame = _as_frame(X, type(self).__name__)
        if frame.shape[0] == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={frame.shape}) while a minimum "
                             "of 1 is required.")
        if frame.shape[1] == 0:
            raise ValueError(f"Found array with 0 feature(s) (shape={frame.shape}) while a minimum "
                             "of 1 is required.")
        self.n_features_in_ = frame.shape[1]
        if isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return frame

    def _check(self, X: object) -> pd.DataFrame:
        check_is_fitted(self, "n_features_in_")
        frame = _as_frame(X, type(self).__name__)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {frame.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")
        return frame

    def _input_names(self, input_features: Sequence[str] | None) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        if input_features is not None:
            return np.asarray(input_features, dtype=object)
        if hasattr(self, "feature_names_in_"):
            return self.feature_names_in_
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)


class KindCoercer(_ColumnsMixin):
    """Coerce columns to one kind: floats for numeric/boolean, strings (NaN missing) otherwise.

    Parameters
    ----------
    kind : {"numeric", "boolean", "categorical"}
        The kind decided when the data was profiled.
    """

    def __init__(self, kind: str = "numeric") -> None:
        self.kind = kind

    def fit(self, X: object, y: object = None) -> KindCoercer:
        if self.kind not in ("numeric", "boolean", "categorical"):
            raise ValueError("kind must be 'numeric', 'boolean' or 'categorical', "
                             f"got {self.kind!r}.")
        self._remember(X)
        return self

    def transform(self, X: object) -> np.ndarray:
        frame = self._check(X)
        if self.kind == "categorical":
            columns = [_clean.to_category(frame.iloc[:, i]).to_numpy(dtype=object)
                       for i in range(frame.shape[1])]
            return np.column_stack(columns) if columns else np.empty((len(frame), 0), object)
        columns = [_clean.to_float(frame.iloc[:, i], self.kind).to_numpy(dtype="float64")
                   for i in range(frame.shape[1])]
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        return self._input_names(input_features)


class DateParts(_ColumnsMixin):
    """Split each date column into year, month, day, weekday and hour (floats, NaN when missing).

    Models cannot use a timestamp as such; these parts carry trend (year) and seasonality.
    """

    def fit(self, X: object, y: object = None) -> DateParts:
        self._remember(X)
        return self

    def transform(self, X: object) -> np.ndarray:
        frame = self._check(X)
        blocks = []
        for i in range(frame.shape[1]):
            dates = _clean.to_datetime(frame.iloc[:, i])
            parts = [dates.dt.year, dates.dt.month, dates.dt.day, dates.dt.day_of_week,
                     dates.dt.hour]
            blocks.append(np.column_stack([p.to_numpy(dtype="float64", na_value=np.nan)
                                           for p in parts]))
        if not blocks:
            return np.empty((len(frame), 0))
        return np.hstack(blocks)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        names = self._input_names(input_features)
        return np.asarray([f"{n}_{p}" for n in names for p in DATE_PARTS], dtype=object)


class TextTfidf(_ColumnsMixin):
    """A small TF-IDF of one free-text column; missing text is the empty document.

    Parameters
    ----------
    max_features : int
        Vocabulary size cap; small, because text is one column among many.
    """

    def __init__(self, max_features: int = 50) -> None:
        self.max_features = max_features

    def _documents(self, frame: pd.DataFrame) -> list[str]:
        if frame.shape[1] != 1:
            raise ValueError(f"TextTfidf takes exactly one column, got {frame.shape[1]}.")
        values = _clean.to_category(frame.iloc[:, 0])
        return values.fillna("").astype(str).tolist()

    def fit(self, X: object, y: object = None) -> TextTfidf:
        frame = self._remember(X)
        vectorizer = TfidfVectorizer(max_features=self.max_features, dtype=np.float64)
        try:
            vectorizer.fit(self._documents(frame))
        except ValueError:  # empty vocabulary: every document blank in this fold
            vectorizer = None
        self.vectorizer_ = vectorizer
        return self

    def transform(self, X: object) -> np.ndarray:
        frame = self._check(X)
        if self.vectorizer_ is None:
            return np.zeros((len(frame), 1))
        return self.vectorizer_.transform(self._documents(frame)).toarray()

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        name = self._input_names(input_features)[0]
        check_is_fitted(self, "vectorizer_")
        if self.vectorizer_ is None:
            return np.asarray([f"{name}_empty"], dtype=object)
        words = self.vectorizer_.get_feature_names_out()
        return np.asarray([f"{name}_{w}" for w in words], dtype=object)


class TargetEncoding(_ColumnsMixin):
    """scikit-learn's TargetEncoder, with the target type read from the dtype of ``y``.

    ``Dataset.y`` is float64 for regression and int64 codes for classes; TargetEncoder's own guess
    would call integral prices "multiclass". The folds of its cross-fitting shrink when a class is
    too small for ``cv`` of them.

    Parameters
    ----------
    cv : int
        Folds for cross-fitting in ``fit_transform``.
    random_state : int
        Seed of the fold shuffling.
    """

    def __init__(self, cv: int = 5, random_state: int = 0) -> None:
        self.cv = cv
        self.random_state = random_state

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X: object, y: object) -> TargetEncoding:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: object, y: object = None, **fit_params: object) -> np.ndarray:
        if y is None:
            raise ValueError("TargetEncoding requires y to be passed, but the target y is None.")
        frame = self._remember(X)
        target = np.asarray(y)
        if np.issubdtype(target.dtype, np.floating):
            target_type = "continuous"
            splitter: object = KFold(max(2, min(self.cv, len(target))), shuffle=True,
                                     random_state=self.random_state)
        else:
            _, counts = np.unique(target, return_counts=True)
            target_type = "binary" if len(counts) <= 2 else "multiclass"
            folds = max(2, min(self.cv, int(counts.min())))
            splitter = (StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
                        if counts.min() >= 2 else
                        KFold(max(2, min(self.cv, len(target))), shuffle=True,
                              random_state=self.random_state))
        self.encoder_ = TargetEncoder(target_type=target_type, cv=splitter)
        return self.encoder_.fit_transform(frame.to_numpy(dtype=object), target)

    def transform(self, X: object) -> np.ndarray:
        frame = self._check(X)
        return self.encoder_.transform(frame.to_numpy(dtype=object))

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        names = self._input_names(input_features)
        check_is_fitted(self, "encoder_")
        return self.encoder_.get_feature_names_out(names)


def _profiles(ds_or_columns: Dataset | Sequence[ColumnProfile]) -> list[ColumnProfile]:
    columns = getattr(ds_or_columns, "columns", ds_or_columns)
    return [c for c in columns if c.used and "target" not in c.flags]


def build_preprocessor(ds_or_columns: Dataset | Sequence[ColumnProfile], *, scale: bool,
                       max_onehot: int = 20) -> ColumnTransformer:
    """A fresh, unfitted ColumnTransformer over ``Dataset.X`` (safe names), dense float64 output.

    Categoricals with more than ``max_onehot`` levels are target-encoded: scikit-learn's
    TargetEncoder cross-fits inside ``fit_transform``, and the pipeline is fitted inside each CV
    fold, so no row's own target leaks into its encoding.
    """
    if max_onehot < 1:
        raise DataError(f"max_onehot must be at least 1, got {max_onehot}.")
    profiles = _profiles(ds_or_columns)
    if not profiles:
        raise DataError("There are no usable feature columns to preprocess; check the column "
                        "profiles for why each column is not used.")
    by_kind: dict[str, list[str]] = {}
    high: list[str] = []
    for c in profiles:
        if c.kind == "categorical" and c.n_unique > max_onehot:
            high.append(c.safe_name)
        else:
            by_kind.setdefault(c.kind, []).append(c.safe_name)

    def scaled(*steps: tuple[str, object]) -> Pipeline:
        extra = [("scale", StandardScaler())] if scale else []
        return Pipeline([*steps, *extra])

    def impute() -> SimpleImputer:
        return SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)

    transformers: list[tuple[str, object, list[str] | str]] = []
    if by_kind.get("numeric"):
        transformers.append(("numeric", scaled(("coerce", KindCoercer("numeric")),
                                               ("impute", impute())), by_kind["numeric"]))
    if by_kind.get("boolean"):
        transformers.append(("boolean", scaled(("coerce", KindCoercer("boolean")),
                                               ("impute", impute())), by_kind["boolean"]))
    if by_kind.get("datetime"):
        transformers.append(("datetime", scaled(("parts", DateParts()), ("impute", impute())),
                             by_kind["datetime"]))
    if by_kind.get("categorical"):
        transformers.append(("onehot", Pipeline([
            ("coerce", KindCoercer("categorical")),
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING,
                                     keep_empty_features=True)),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                     dtype=np.float64)),
        ]), by_kind["categorical"]))
    if high:
        transformers.append(("target_enc", scaled(
            ("coerce", KindCoercer("categorical")),
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING,
                                     keep_empty_features=True)),
            ("encode", TargetEncoding()),
        ), high))
    for name in by_kind.get("text", []):
        transformers.append((f"text_{name}", TextTfidf(), [name]))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
