"""ONNX export: skl2onnx for scikit-learn, onnxmltools' converter for XGBoost, and Knobs' coercer.

ONNX graphs take typed tensors, so the one Knobs step ONNX can express is :class:`KindCoercer`
once its job (turning text such as "1,5" or "Yes" into a float, or any value into a category
string) is done before the graph: the exported graph takes one input per column, float32 for
numeric and boolean columns, strings for categorical ones (missing as ``"__missing__"``), and
``knobs predict`` prepares those inputs with the same cleaning code. Steps with no ONNX
equivalent (date parts, text TF-IDF over Knobs' cleaning, target encoding) refuse the export and
name the step. ONNX computes in float32, so the export is checked against the fitted model on the
training rows and refused beyond the stated tolerance.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.metaestimators import available_if

from knobs.errors import ExportError
from knobs.portable import (
    MISSING,
    DateParts,
    KindCoercer,
    TargetEncoding,
    TextTfidf,
    to_category,
    to_float,
)

#: Largest accepted |ONNX - model| for class probabilities (absolute).
PROBA_TOL = 1e-4
#: Largest accepted |ONNX - model| for regression values, relative to max(1, max |value|).
VALUE_RTOL = 1e-4
OPSET = 17
ML_OPSET = 3
_BLOCKING = {
    DateParts: "date parts",
    TextTfidf: "text TF-IDF",
    TargetEncoding: "target encoding",
}


@dataclass(frozen=True)
class OnnxCheck:
    """How the ONNX graph compares with the fitted model on the rows it was checked on."""

    rows: int
    max_abs_diff: float
    tolerance: float
    compared: str  # "probabilities" | "values"
    label_agreement: float | None


class _Prefilled(TransformerMixin, BaseEstimator):
    """Stands in, inside the graph only, for the constant imputer of categorical columns.

    skl2onnx cannot convert a string imputer whose missing marker is NaN (strings in ONNX cannot
    be NaN); the graph's inputs already carry missing categories as ``MISSING``, so the step is
    the identity there. The fitted pipeline itself is never changed (a deep copy is converted).
    """

    def fit(self, X: object, y: object = None) -> _Prefilled:
        return self

    def transform(self, X: object) -> object:
        return X


class _NumericImputer(TransformerMixin, BaseEstimator):
    """Stands in, inside the graph only, for a fitted median imputer with missing indicators.

    skl2onnx's SimpleImputer converter leaves out ``add_indicator`` columns, which shifts every
    feature after them; this converter writes both parts: the filled values, then one 0/1
    column per feature that had missing values at fit time, as scikit-learn does.
    """

    def __init__(self, imputer: Any = None) -> None:
        self.imputer = imputer

    def fit(self, X: object, y: object = None) -> _NumericImputer:
        return self

    def transform(self, X: object) -> object:
        return self.imputer.transform(X)


def _imputer_shape(operator: Any) -> None:
    imp = operator.raw_operator.imputer
    extra = len(imp.indicator_.features_) if getattr(imp, "indicator_", None) is not None else 0
    width = operator.inputs[0].type.shape[1]
    width = None if width is None else width + extra
    operator.outputs[0].type = operator.inputs[0].type.__class__([None, width])


def _imputer_convert(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    imp = operator.raw_operator.imputer
    name = scope.get_unique_variable_name
    x = operator.inputs[0].full_name
    stats = np.nan_to_num(np.asarray(imp.statistics_, dtype=np.float32), nan=0.0)
    stats_name = name("stats")
    container.add_initializer(stats_name, TensorProto.FLOAT, [1, len(stats)], stats.tolist())
    isnan, filled = name("isnan"), name("filled")
    container.add_node("IsNaN", x, isnan, name=scope.get_unique_operator_name("IsNaN"))
    container.add_node("Where", [isnan, stats_name, x], filled,
                       name=scope.get_unique_operator_name("Where"))  # fmt: skip
    features = getattr(getattr(imp, "indicator_", None), "features_", None)
    if features is None or len(features) == 0:
        container.add_node("Identity", filled, operator.outputs[0].full_name,
                           name=scope.get_unique_operator_name("Identity"))  # fmt: skip
        return
    idx, picked, flags = name("idx"), name("picked"), name("flags")
    container.add_initializer(idx, TensorProto.INT64, [len(features)], [int(i) for i in features])
    container.add_node("Gather", [isnan, idx], picked, axis=1,
                       name=scope.get_unique_operator_name("Gather"))  # fmt: skip
    container.add_node("Cast", picked, flags, to=TensorProto.FLOAT,
                       name=scope.get_unique_operator_name("Cast"))  # fmt: skip
    container.add_node("Concat", [filled, flags], operator.outputs[0].full_name, axis=1,
                       name=scope.get_unique_operator_name("Concat"))  # fmt: skip


def _graph_copy(pipeline: Any) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    graph = copy.deepcopy(pipeline)
    for _name, step, _cols in graph.steps[0][1].transformers_:
        if isinstance(step, Pipeline):
            for i, (name, sub) in enumerate(step.steps):
                if isinstance(sub, SimpleImputer) and sub.fill_value == MISSING:
                    step.steps[i] = (name, _Prefilled())
                elif isinstance(sub, SimpleImputer) and sub.strategy == "median":
                    step.steps[i] = (name, _NumericImputer(sub))
    return graph


def _walk(est: Any, path: str) -> list[tuple[str, Any]]:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    found = [(path, est)]
    if isinstance(est, Pipeline):
        for name, step in est.steps:
            found += _walk(step, f"{path} › {name}")
    elif isinstance(est, ColumnTransformer):
        for name, step, _cols in getattr(est, "transformers_", est.transformers):
            if not isinstance(step, str):
                found += _walk(step, f"{path} › {name}")
    return found


def blocking_step(pipeline: Any) -> str | None:
    """The first step ONNX cannot express, as ``'prep › datetime › parts (date parts)'``."""
    for path, est in _walk(pipeline, "pipeline"):
        for cls, what in _BLOCKING.items():
            if isinstance(est, cls):
                return f"`{path}` ({type(est).__name__}: {what})"
    return None


def _register() -> None:
    from skl2onnx import update_registered_converter

    def shape(operator: Any) -> None:
        # Same tensor type and width out as in: the coercion happened before the graph.
        kind = operator.inputs[0].type
        operator.outputs[0].type = kind.__class__([None, kind.shape[1]])

    def convert(scope: Any, operator: Any, container: Any) -> None:
        # The cleaning ran before the graph (see the module docstring): here it is the identity.
        container.add_node(
            "Identity",
            operator.inputs[0].full_name,
            operator.outputs[0].full_name,
            name=scope.get_unique_operator_name("KnobsKindCoercer"),
        )

    update_registered_converter(KindCoercer, "KnobsKindCoercer", shape, convert)
    update_registered_converter(_Prefilled, "KnobsPrefilled", shape, convert)
    update_registered_converter(
        _NumericImputer, "KnobsNumericImputer", _imputer_shape, _imputer_convert
    )
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from skl2onnx.common.shape_calculator import (
            calculate_linear_classifier_output_shapes,
            calculate_linear_regressor_output_shapes,
        )
        from xgboost import XGBClassifier, XGBRegressor
    except ImportError:  # pragma: no cover - pinned in requirements.txt
        return
    update_registered_converter(
        XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes,
        convert_xgboost, options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )  # fmt: skip
    update_registered_converter(
        XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes,
        convert_xgboost,
    )  # fmt: skip


def onnx_inputs(schema: Mapping[str, str], X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The graph's inputs from a table with safe column names: the cleaning Knobs' coercer does."""
    feeds: dict[str, np.ndarray] = {}
    for safe, kind in schema.items():
        s = X[safe]
        if kind in ("numeric", "boolean"):
            feeds[safe] = to_float(s, kind).to_numpy(dtype=np.float32).reshape(-1, 1)
        else:
            values = to_category(s).fillna(MISSING)
            feeds[safe] = values.astype(str).to_numpy(dtype=object).reshape(-1, 1)
    return feeds


def onnx_schema(pipeline: Any) -> dict[str, str]:
    """safe column name -> kind of ONNX input, read from the fitted ColumnTransformer."""
    prep = pipeline.steps[0][1]
    schema: dict[str, str] = {}
    for _name, step, cols in prep.transformers_:
        if isinstance(step, str):
            continue
        first = step.steps[0][1] if hasattr(step, "steps") else step
        kind = first.kind if isinstance(first, KindCoercer) else "numeric"
        for c in cols:
            schema[str(c)] = kind
    return schema


def to_onnx(
    pipeline: Any, task: str, X_check: pd.DataFrame
) -> tuple[bytes, dict[str, str], OnnxCheck]:
    """Convert, then compare with the fitted pipeline on ``X_check``; refuse beyond tolerance."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not (
        isinstance(pipeline, Pipeline)
        and len(pipeline.steps) == 2
        and isinstance(pipeline.steps[0][1], ColumnTransformer)
    ):
        raise ExportError(
            f"ONNX export needs a Knobs pipeline (preprocessing, then one model), got "
            f"`{type(pipeline).__name__}`. Use --format skops, which holds any scikit-learn model."
        )
    blocked = blocking_step(pipeline)
    if blocked:
        raise ExportError(
            f"This pipeline cannot be exported to ONNX: step {blocked} has no ONNX converter. "
            "Use --format skops (or xgboost for XGBoost models), or leave that column out of the "
            "search."
        )
    _register()
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    schema = onnx_schema(pipeline)
    initial = [
        (
            c,
            FloatTensorType([None, 1])
            if k in ("numeric", "boolean")
            else StringTensorType([None, 1]),
        )
        for c, k in schema.items()
    ]
    graph = _graph_copy(pipeline)
    model = graph.steps[-1][1]
    options = {id(model): {"zipmap": False}} if task != "regression" else None
    try:
        onx = convert_sklearn(
            graph,
            initial_types=initial,
            options=options,
            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        )
    except Exception as exc:  # skl2onnx raises plain RuntimeError/NotImplementedError
        raise ExportError(
            f"skl2onnx cannot convert this pipeline's model `{type(model).__name__}` "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]}). Use --format skops."
        ) from None
    data = onx.SerializeToString()
    check = compare(data, pipeline, task, schema, X_check)
    if check.max_abs_diff > check.tolerance:
        raise ExportError(
            f"The ONNX graph differs from the fitted model by up to {check.max_abs_diff:.3g} on "
            f"the {check.compared} of {check.rows} training rows, more than the tolerance "
            f"{check.tolerance:.3g}. Use --format skops, which reloads exactly."
        )
    return data, schema, check


def run_onnx(data: bytes, schema: Mapping[str, str], X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Run the graph with onnxruntime: ``{'label': ..., 'proba': ...}`` or ``{'value': ...}``."""
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    outputs = session.run(None, onnx_inputs(schema, X))
    names = [o.name for o in session.get_outputs()]
    if len(outputs) == 1:
        return {"value": np.asarray(outputs[0]).reshape(-1)}
    by = dict(zip(names, outputs, strict=True))
    label = by.get("label", by.get("output_label", outputs[0]))
    proba = by.get("probabilities", by.get("output_probability", outputs[1]))
    return {"label": np.asarray(label).reshape(-1), "proba": np.asarray(proba)}


class OnnxModel:
    """An exported graph loaded for prediction, with the ``predict`` / ``predict_proba`` of the
    model it was made from: class codes (int64) or values (float64), probabilities (float64)
    only when the graph holds them (a model without ``predict_proba`` has scores there)."""

    def __init__(self, data: bytes, inputs: Mapping[str, str], task: str, *, has_proba: bool):
        self.data = data
        self.inputs = dict(inputs)
        self.task = task
        self.has_proba = has_proba

    def _run(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        return run_onnx(self.data, self.inputs, X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.task == "regression":
            return self._run(X)["value"].astype(np.float64)
        return self._run(X)["label"].astype(np.int64)

    @available_if(lambda self: self.task != "regression" and self.has_proba)
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._run(X)["proba"].astype(np.float64)


def compare(
    data: bytes, pipeline: Any, task: str, schema: Mapping[str, str], X: pd.DataFrame
) -> OnnxCheck:
    got = run_onnx(data, schema, X)
    if task == "regression":
        want = np.asarray(pipeline.predict(X), dtype=np.float64)
        diff = float(np.max(np.abs(got["value"] - want))) if len(want) else 0.0
        tol = VALUE_RTOL * max(1.0, float(np.max(np.abs(want))) if len(want) else 1.0)
        return OnnxCheck(len(X), diff, tol, "values", None)
    labels = np.asarray(pipeline.predict(X))
    agreement = float(np.mean(got["label"].astype(labels.dtype) == labels)) if len(X) else 1.0
    if hasattr(pipeline, "predict_proba"):
        want = np.asarray(pipeline.predict_proba(X), dtype=np.float64)
        diff = float(np.max(np.abs(got["proba"] - want))) if len(want) else 0.0
        return OnnxCheck(len(X), diff, PROBA_TOL, "probabilities", agreement)
    return OnnxCheck(len(X), 1.0 - agreement, 0.0, "labels", agreement)
