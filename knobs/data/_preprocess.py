"""The feature preprocessor: one ColumnTransformer per dataset, built from the column profiles.

Each branch starts by coercing its columns to the kind decided at profiling time, so the fitted
pipeline also accepts new rows as a CSV reader delivers them. The transformers themselves live in
:mod:`knobs.portable` (saved models name them there, and train.py carries that module whole).
They stay importable from here for good: models saved by Knobs 0.1.0 record them as
``knobs.data._preprocess.KindCoercer`` and so on, and skops finds a class by importing the path
it recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from knobs.data._profile import ColumnProfile
from knobs.errors import DataError
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
]


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
