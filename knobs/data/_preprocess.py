"""The feature preprocessor: one ColumnTransformer per dataset, built from the column profiles.

Each branch starts by coercing its columns to the kind decided at profiling time, so the fitted
pipeline also accepts new rows as a CSV reader delivers them. The transformers themselves live in
:mod:`knobs.portable` (saved models name them there, and train.py carries that module whole).
They stay importable from here for good: models saved by Knobs 0.1.0 record them as
``knobs.data._preprocess.KindCoercer`` and so on, and skops finds a class by importing the path
it recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectPercentile, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    OrdinalEncoder,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

from knobs.data._profile import ColumnProfile
from knobs.errors import ConfigError, DataError
from knobs.portable import DATE_PARTS, MISSING, DateParts, KindCoercer, TargetEncoding, TextTfidf

if TYPE_CHECKING:
    from knobs.data._prepare import Dataset

#: Re-exported for the paths that saved models record (see the module docstring): keep them.
__all__ = [
    "DATE_PARTS",
    "MISSING",
    "DateParts",
    "KindCoercer",
    "TargetEncoding",
    "TextTfidf",
    "build_preprocessor",
    "ENCODINGS",
    "IMPUTATIONS",
    "SCALERS",
]


def _quantile() -> QuantileTransformer:
    # Normal output keeps linear models and MLPs away from the hard 0/1 edges of a uniform one;
    # seeded, since it subsamples large tables.
    return QuantileTransformer(output_distribution="normal", random_state=0)


#: Scalers for the models that need scaled features (``ModelSpec.scale``), by name. A new
#: scaler is one line here: the pipeline search (``knobs.pipelines``) reads its choices from it.
SCALERS: Mapping[str, Callable[[], TransformerMixin]] = {
    "standard": StandardScaler,
    "robust": RobustScaler,
    "quantile": _quantile,
}
#: How categorical columns become numbers, by name (what each does, for the listings).
ENCODINGS: Mapping[str, str] = {
    "onehot": "one-hot; target encoding above 20 levels (linear models: from 100 rows a level)",
    "ordinal": "one integer code per level (unseen levels: -1)",
    "target": "target encoding, cross-fitted",
}
#: SimpleImputer strategies for numeric, boolean and date columns.
IMPUTATIONS: tuple[str, ...] = ("median", "mean")


def _profiles(ds_or_columns: Dataset | Sequence[ColumnProfile]) -> list[ColumnProfile]:
    columns = getattr(ds_or_columns, "columns", ds_or_columns)
    return [c for c in columns if c.used and "target" not in c.flags]


def _check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ConfigError(
            f"Preprocessing choice `{name}` must be one of {list(allowed)}, but got {value!r}."
        )


def _many_levels(column: ColumnProfile, scale: bool, max_onehot: int | None) -> bool:
    """Whether the default encoding target-encodes ``column`` for a model (scaled or not)."""
    if max_onehot is not None:
        return column.n_unique > max_onehot
    flags = column.flags
    return "high_cardinality" in flags and not (scale and "few_rows_per_category" in flags)


def build_preprocessor(
    ds_or_columns: Dataset | Sequence[ColumnProfile],
    *,
    scale: bool,
    max_onehot: int | None = None,
    encoding: str = "onehot",
    impute: str = "median",
    missing_indicator: bool = True,
    scaler: str = "standard",
    keep_features: float = 1.0,
    task: str | None = None,
) -> ColumnTransformer | Pipeline:
    """A fresh, unfitted ColumnTransformer over ``Dataset.X`` (safe names), dense float64 output.

    Categoricals flagged ``high_cardinality`` by their profile (more than 20 levels), or with
    more than ``max_onehot`` levels when it is given, are target-encoded, except for scaled
    (linear and distance) models when the profile also flags ``few_rows_per_category``
    (:func:`knobs.data._profile.too_few_rows_per_category`): scikit-learn's
    TargetEncoder cross-fits inside ``fit_transform``, and the pipeline is fitted inside each CV
    fold, so no row's own target leaks into its encoding.

    The keyword choices are what a pipeline search varies (declared in ``knobs.pipelines``);
    their defaults are the fixed preprocessing every other search uses, built exactly as before.
    ``encoding`` (:data:`ENCODINGS`) applies to every categorical column; ``impute``
    (:data:`IMPUTATIONS`) and ``missing_indicator`` to numeric, boolean and date columns;
    ``scaler`` (:data:`SCALERS`) only when ``scale``. ``keep_features`` below 1 keeps that share
    of the output features by a univariate F-test (cheap: one pass over the fold), which needs
    the ``task``; the result is then a Pipeline (``columns``, ``select``), still one step that
    turns the table into the model's input.
    """
    if max_onehot is not None and max_onehot < 1:
        raise DataError(f"max_onehot must be at least 1, got {max_onehot}.")
    _check_choice("encoding", encoding, list(ENCODINGS))
    _check_choice("impute", impute, IMPUTATIONS)
    _check_choice("missing_indicator", missing_indicator, (True, False))
    _check_choice("scaler", scaler, list(SCALERS))
    if not 0 < keep_features <= 1:
        raise ConfigError(
            f"Preprocessing choice `keep_features` is the share of features kept and must lie in "
            f"(0, 1], but got {keep_features!r}."
        )
    if keep_features < 1 and task is None:
        raise ConfigError(
            "Feature selection (`keep_features` < 1) scores features against the target, so it "
            "needs the task: pass `task=` ('binary', 'multiclass' or 'regression')."
        )
    profiles = _profiles(ds_or_columns)
    if not profiles:
        raise DataError("There are no usable feature columns to preprocess; check the column "
                        "profiles for why each column is not used.")
    by_kind: dict[str, list[str]] = {}
    high: list[str] = []
    for c in profiles:
        if c.kind == "categorical" and (
            encoding == "target" or (encoding == "onehot" and _many_levels(c, scale, max_onehot))
        ):
            high.append(c.safe_name)
        else:
            by_kind.setdefault(c.kind, []).append(c.safe_name)

    def scaled(*steps: tuple[str, object]) -> Pipeline:
        extra = [("scale", SCALERS[scaler]())] if scale else []
        return Pipeline([*steps, *extra])

    def imputer() -> SimpleImputer:
        return SimpleImputer(
            strategy=impute, add_indicator=missing_indicator, keep_empty_features=True
        )

    transformers: list[tuple[str, object, list[str] | str]] = []
    if by_kind.get("numeric"):
        transformers.append(("numeric", scaled(("coerce", KindCoercer("numeric")),
                                               ("impute", imputer())), by_kind["numeric"]))
    if by_kind.get("boolean"):
        transformers.append(("boolean", scaled(("coerce", KindCoercer("boolean")),
                                               ("impute", imputer())), by_kind["boolean"]))
    if by_kind.get("datetime"):
        written = {c.safe_name: list(c.formats) for c in profiles if c.kind == "datetime"}
        formats = [written.get(name, []) for name in by_kind["datetime"]]
        parts = DateParts(formats if any(formats) else None)
        transformers.append(("datetime", scaled(("parts", parts), ("impute", imputer())),
                             by_kind["datetime"]))
    if by_kind.get("categorical") and encoding == "ordinal":
        transformers.append(("ordinal", scaled(
            ("coerce", KindCoercer("categorical")),
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING,
                                     keep_empty_features=True)),
            ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                      dtype=np.float64)),
        ), by_kind["categorical"]))
    elif by_kind.get("categorical"):
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
    columns = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    if keep_features >= 1:
        return columns
    score = f_regression if task == "regression" else f_classif
    select = SelectPercentile(score, percentile=round(100 * keep_features))
    return Pipeline([("columns", columns), ("select", select)])
