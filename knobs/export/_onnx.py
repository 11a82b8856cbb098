"""ONNX export: skl2onnx for scikit-learn, onnxmltools' converter for XGBoost, and converters for
Knobs' own steps and ensembles.

ONNX graphs take typed tensors, so the value cleaning Knobs' :class:`KindCoercer` does (turning
text such as "1,5" or "Yes" into a float, or any value into a category string) happens before
the graph, with the same code (:func:`onnx_inputs`; ``knobs predict`` calls it). The graph takes
one input per column it reads:

- float32 ``[n, 1]`` for numeric and boolean columns (missing as NaN);
- strings ``[n, 1]`` for categorical columns (missing as ``"__missing__"``);
- for a date column ``d``, five float32 ``[n, 1]`` inputs ``d__year``, ``d__month``, ``d__day``,
  ``d__weekday`` (Monday = 0) and ``d__hour``, NaN when the date is missing or unreadable:
  **precomputed inputs**. Why not date parsing inside the graph: dates arrive as text in a
  format Knobs guesses per column (``portable.to_datetime``: day-first or month-first, zones
  turned to UTC, out-of-range dates missing), and no ONNX operator parses text dates. Once a
  date is read, its parts are trivial and exact in any language, whereas deriving them in the
  graph from a float32 timestamp would lose the hour (float32 holds Unix seconds only to about
  two minutes). Knobs computes these inputs with ``portable.DateParts`` itself, the very code
  the fitted pipeline runs, so the graph sees the numbers the pipeline saw.

Inside the graph: the coercer and the categorical imputer are the identity (their work was done
on the way in), numeric imputers keep their missing-value indicator columns (skl2onnx's own
converter drops them), target encoding is a per-category lookup of the fitted encoding table
(``ai.onnx.ml`` ``LabelEncoder``; unseen categories get the fitted target mean, as in
scikit-learn). Ensembles are the members' graphs over the shared inputs, then: for voting and
greedy ensembles a weighted average of their probabilities or values (weighted votes for hard
voting); for stacking the members' outputs laid out as ``portable.meta_features`` does (and
Knobs' preprocessing when the features are passed through), then the meta-learner's graph.
Steps with no faithful ONNX equivalent refuse the export and name the step: stacking on the raw
table (``passthrough=True``: one numeric matrix, where the graph has one input per column),
quantile scaling to a normal distribution (no converter), and text TF-IDF: skl2onnx's
TfidfVectorizer graph matches scikit-learn on ASCII text, but onnxruntime's tokenizer treats
only ASCII letters as word characters (TF-IDF values of "café" differ by 0.6), and its
lowercasing needs a locale the host may lack; the check on training rows could pass while
accented text at predict time silently gets other features. ONNX computes in float32, so every
export is checked against the fitted model on the training rows and refused beyond the stated
tolerance.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.metaestimators import available_if

from knobs.errors import ExportError
from knobs.pipelines import pipeline_of, target_of
from knobs.portable import (
    DATE_PARTS,
    MISSING,
    DateParts,
    GreedyEnsembleClassifier,
    GreedyEnsembleRegressor,
    KindCoercer,
    StackingEnsembleClassifier,
    StackingEnsembleRegressor,
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
#: The input kind of one date part: ``"datetime.year"`` ... (see the module docstring).
DATE_KIND = "datetime"
_STACKING_INSTEAD = (
    "Use --format skops for this ensemble, or build it with Knobs (`knobs ensemble --kind "
    "stacking [--passthrough]` passes the features through Knobs' preprocessing), which "
    "exports to ONNX."
)
_RAW_PASSTHROUGH = (
    "stacking whose meta-learner also reads the raw table (`passthrough=True`): the graph's "
    "inputs are per-column tensors of mixed types, not one numeric matrix"
)


@dataclass(frozen=True)
class _Refusal:
    """A step no converter expresses faithfully: what it is, and what to do instead."""

    cls: type
    what: str
    instead: str
    applies: Callable[[Any], bool] = lambda step: True


def _raw_passthrough(step: Any) -> bool:
    return step.passthrough is True


def _quantile_normal(step: Any) -> bool:
    return getattr(step, "output_distribution", None) == "normal"


def _refusals() -> tuple[_Refusal, ...]:
    from sklearn.preprocessing import QuantileTransformer

    return (
        _Refusal(StackingEnsembleClassifier, _RAW_PASSTHROUGH, _STACKING_INSTEAD,
                 _raw_passthrough),
        _Refusal(StackingEnsembleRegressor, _RAW_PASSTHROUGH, _STACKING_INSTEAD,
                 _raw_passthrough),
        _Refusal(TextTfidf, "text TF-IDF: its tokenizer matches Unicode words, onnxruntime's "
                 "ASCII ones only, so accented text would silently get other features",
                 "Use --format skops (or xgboost for XGBoost models), or leave that column out "
                 "of the search."),
        _Refusal(QuantileTransformer, "quantile scaling to a normal distribution: skl2onnx has "
                 "no converter for it (ONNX has no inverse normal function)",
                 "Use --format skops, or export a trial with the standard or robust scaler "
                 "(`prep.scaler`).", _quantile_normal),
    )  # fmt: skip


@dataclass(frozen=True)
class OnnxCheck:
    """How the ONNX graph compares with the fitted model on the rows it was checked on."""

    rows: int
    max_abs_diff: float
    tolerance: float
    compared: str  # "probabilities" | "values" | "labels"
    label_agreement: float | None


# --- stand-ins, used only inside the graph copy --------------------------------------------------


class _Prefilled(TransformerMixin, BaseEstimator):
    """Stands in, inside the graph only, for a step whose work was done before the graph.

    That is the constant imputer of categorical columns (skl2onnx cannot convert a string
    imputer whose missing marker is NaN, and the graph's inputs already carry missing categories
    as ``MISSING``) and :class:`DateParts` (its parts are the graph's inputs). The fitted
    pipeline itself is never changed: a deep copy is converted.
    """

    def fit(self, X: object, y: object = None) -> _Prefilled:
        return self

    def transform(self, X: object) -> object:
        return X


class _NumericImputer(TransformerMixin, BaseEstimator):
    """Stands in, inside the graph only, for a fitted numeric imputer with missing indicators.

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


class _Blend(BaseEstimator):
    """Stands in, inside the graph only, for a voting or greedy ensemble.

    ``members`` are the members' graph copies, ``weights`` sum to one. ``mode``: ``"proba"``
    averages class probabilities (soft voting, greedy), ``"votes"`` adds the weights of the
    members that predict each class (hard voting), ``"value"`` averages regression values, then
    takes their ``exp`` with ``exp`` set (one member that learned its target's log).
    """

    def __init__(self, members: Any = None, weights: Any = None, mode: str = "proba",
                 classes: Any = None, exp: bool = False) -> None:  # fmt: skip
        self.members = members
        self.weights = weights
        self.mode = mode
        self.classes = classes
        self.exp = exp


class _Stack(BaseEstimator):
    """Stands in, inside the graph only, for a stacking ensemble: the members' graphs, their
    outputs side by side as ``portable.meta_features`` lays them out (a binary classifier's
    positive-class column only), then the passthrough preprocessing's columns, then the
    meta-learner's own graph."""

    def __init__(self, members: Any = None, passthrough: Any = None, final: Any = None,
                 classifier: bool = True, binary: bool = False) -> None:  # fmt: skip
        self.members = members
        self.passthrough = passthrough
        self.final = final
        self.classifier = classifier
        self.binary = binary


# --- converters ---------------------------------------------------------------------------------


def _imputer_shape(operator: Any) -> None:
    imp = operator.raw_operator.imputer
    extra = len(imp.indicator_.features_) if getattr(imp, "indicator_", None) is not None else 0
    width = operator.inputs[0].type.shape[1]
    kept = _kept_features(imp)
    if width is not None:
        width = (width if kept is None else len(kept)) + extra
    operator.outputs[0].type = operator.inputs[0].type.__class__([None, width])


def _kept_features(imp: Any) -> list[int] | None:
    """Columns a fitted imputer keeps (None: all): without ``keep_empty_features`` scikit-learn
    drops the columns that were entirely missing at fit time."""
    stats = np.asarray(imp.statistics_, dtype=np.float64)
    if getattr(imp, "keep_empty_features", False) or not np.isnan(stats).any():
        return None
    return [int(i) for i in np.flatnonzero(~np.isnan(stats))]


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
    kept = _kept_features(imp)
    if kept is not None:
        keep_idx, narrowed = name("keep"), name("narrowed")
        container.add_initializer(keep_idx, TensorProto.INT64, [len(kept)], kept)
        container.add_node("Gather", [filled, keep_idx], narrowed, axis=1,
                           name=scope.get_unique_operator_name("Gather"))  # fmt: skip
        filled = narrowed
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


def _target_tables(step: TargetEncoding) -> list[tuple[int, np.ndarray, np.ndarray, float]]:
    """One lookup per output column of a fitted :class:`TargetEncoding`, in scikit-learn's
    order: ``(input column, categories, encodings, value for unseen categories)``. Multiclass
    targets give one column per (feature, class), feature-major."""
    enc = step.encoder_
    if enc.target_type_ == "multiclass":
        n = len(enc.classes_)
        means = np.asarray(enc.target_mean_, dtype=np.float64)
        return [
            (e // n, np.asarray(enc.categories_[e // n]), np.asarray(codes), float(means[e % n]))
            for e, codes in enumerate(enc.encodings_)
        ]
    mean = float(np.asarray(enc.target_mean_, dtype=np.float64))
    return [
        (i, np.asarray(cats), np.asarray(codes), mean)
        for i, (cats, codes) in enumerate(zip(enc.categories_, enc.encodings_, strict=True))
    ]


def _target_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    operator.outputs[0].type = FloatTensorType([None, len(_target_tables(operator.raw_operator))])


def _target_convert(scope: Any, operator: Any, container: Any) -> None:
    """Each output column: the input column's category looked up in the fitted table."""
    from onnx import TensorProto

    name = scope.get_unique_variable_name
    x = operator.inputs[0].full_name
    columns = []
    for col, categories, encodings, unseen in _target_tables(operator.raw_operator):
        idx, picked, looked = name("col_idx"), name("category"), name("encoded")
        container.add_initializer(idx, TensorProto.INT64, [1], [col])
        container.add_node("Gather", [x, idx], picked, axis=1,
                           name=scope.get_unique_operator_name("Gather"))  # fmt: skip
        container.add_node(
            "LabelEncoder", picked, looked, op_domain="ai.onnx.ml", op_version=2,
            keys_strings=[str(c).encode("utf-8") for c in categories],
            values_floats=np.asarray(encodings, dtype=np.float32).tolist(),
            default_float=float(unseen), name=scope.get_unique_operator_name("TargetLookup"),
        )  # fmt: skip
        columns.append(looked)
    container.add_node("Concat", columns, operator.outputs[0].full_name, axis=1,
                       name=scope.get_unique_operator_name("Concat"))  # fmt: skip


def _blend_parser(scope: Any, model: _Blend, inputs: list, custom_parsers: Any = None) -> list:
    """Each member's graph over the shared inputs, then one blend operator on their outputs."""
    from skl2onnx._parse import _parse_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    outs = [_parse_sklearn(scope, m, inputs, custom_parsers=custom_parsers) for m in model.members]
    op = scope.declare_local_operator("KnobsBlend", model)
    if model.mode == "value":
        op.inputs = [o[0] for o in outs]
        value = scope.declare_local_variable("variable", FloatTensorType([None, 1]))
        op.outputs.append(value)
        return [value]
    op.inputs = [o[0] if model.mode == "votes" else o[1] for o in outs]
    label = scope.declare_local_variable("label", Int64TensorType([None]))
    proba = scope.declare_local_variable("probabilities", FloatTensorType([None, None]))
    op.outputs += [label, proba]
    return [label, proba]


def _declared_shape(operator: Any) -> None:
    return None  # the parser declared the outputs' types


def _blend_convert(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    blend: _Blend = operator.raw_operator
    name = scope.get_unique_variable_name

    def node(op_type: str, ins: list[str], out: str, **attrs: Any) -> str:
        container.add_node(op_type, ins, out, name=scope.get_unique_operator_name(op_type),
                           **attrs)  # fmt: skip
        return out

    terms = []
    for var, w in zip(operator.inputs, blend.weights, strict=True):
        x = var.full_name
        if blend.mode == "votes":  # this member's label as a 0/1 row over the classes
            classes = name("classes_row")
            container.add_initializer(classes, TensorProto.INT64, [1, len(blend.classes)],
                                      [int(c) for c in blend.classes])  # fmt: skip
            shape = name("column")
            container.add_initializer(shape, TensorProto.INT64, [2], [-1, 1])
            col = node("Reshape", [x, shape], name("label_col"))
            hit = node("Equal", [col, classes], name("hit"))
            x = node("Cast", [hit], name("vote"), to=TensorProto.FLOAT)
        weight = name("weight")
        container.add_initializer(weight, TensorProto.FLOAT, [1], [float(w)])
        terms.append(node("Mul", [x, weight], name("weighted")))
    if blend.mode == "value":
        out = operator.outputs[0].full_name
        if blend.exp:
            node("Exp", [node("Sum", terms, name("log_value"))], out)
        else:
            node("Sum", terms, out)
        return
    proba = node("Sum", terms, operator.outputs[1].full_name)
    best = node("ArgMax", [proba], name("best"), axis=1, keepdims=0)
    labels = name("class_labels")
    container.add_initializer(labels, TensorProto.INT64, [len(blend.classes)],
                              [int(c) for c in blend.classes])  # fmt: skip
    node("Gather", [labels, best], operator.outputs[0].full_name, axis=0)


def _stack_parser(scope: Any, model: _Stack, inputs: list, custom_parsers: Any = None) -> list:
    """Members' graphs, one operator laying their outputs out as the meta-features, then the
    meta-learner parsed on those: it is converted by its own skl2onnx converter."""
    from skl2onnx._parse import _parse_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    outs = [_parse_sklearn(scope, m, inputs, custom_parsers=custom_parsers) for m in model.members]
    op = scope.declare_local_operator("KnobsStackFeatures", model)
    op.inputs = [o[1] if model.classifier else o[0] for o in outs]
    if model.passthrough is not None:
        op.inputs.append(
            _parse_sklearn(scope, model.passthrough, inputs, custom_parsers=custom_parsers)[0]
        )
    meta = scope.declare_local_variable(
        "meta_features", FloatTensorType([None, int(model.final.n_features_in_)])
    )
    op.outputs.append(meta)
    return _parse_sklearn(scope, model.final, [meta], custom_parsers=custom_parsers)


def _stack_convert(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    stack: _Stack = operator.raw_operator
    name = scope.get_unique_variable_name
    columns = []
    for i, var in enumerate(operator.inputs):
        x = var.full_name
        member = i < len(stack.members)
        if member and stack.classifier and stack.binary:  # the positive class's column only
            idx, x = name("positive"), name("positive_proba")
            container.add_initializer(idx, TensorProto.INT64, [1], [1])
            container.add_node("Gather", [var.full_name, idx], x, axis=1,
                               name=scope.get_unique_operator_name("Gather"))  # fmt: skip
        cast = name("as_float")
        container.add_node("Cast", x, cast, to=TensorProto.FLOAT,
                           name=scope.get_unique_operator_name("Cast"))  # fmt: skip
        columns.append(cast)
    container.add_node("Concat", columns, operator.outputs[0].full_name, axis=1,
                       name=scope.get_unique_operator_name("Concat"))  # fmt: skip


def _register() -> None:
    from skl2onnx import update_registered_converter

    def shape(operator: Any) -> None:
        # Same tensor type and width out as in: the work happened before the graph.
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
    update_registered_converter(TargetEncoding, "KnobsTargetEncoding", _target_shape,
                                _target_convert)  # fmt: skip
    update_registered_converter(_Blend, "KnobsBlend", _declared_shape, _blend_convert,
                                parser=_blend_parser)  # fmt: skip
    update_registered_converter(_Stack, "KnobsStackFeatures", _declared_shape, _stack_convert,
                                parser=_stack_parser)  # fmt: skip
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


# --- what the estimator is made of ---------------------------------------------------------------


def _columns_step(pipeline: Any) -> Any:
    """The ColumnTransformer a Knobs pipeline starts with: its ``prep`` step, or the first step
    of ``prep`` when a pipeline search added feature selection after it; None otherwise."""
    from sklearn.pipeline import Pipeline

    if not (isinstance(pipeline, Pipeline) and len(pipeline.steps) == 2):
        return None
    return _ct_of(pipeline.steps[0][1])


def _ct_of(prep: Any) -> Any:
    """A preprocessing step's ColumnTransformer: itself, or the first step of its Pipeline."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(prep, Pipeline) and prep.steps:
        prep = prep.steps[0][1]
    return prep if isinstance(prep, ColumnTransformer) else None


def _is_knobs_pipeline(est: Any) -> bool:
    return _columns_step(est) is not None


def _members(est: Any) -> list[tuple[str, Any]] | None:
    """A fitted ensemble's fitted members by name (None when ``est`` is no ensemble)."""
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    if isinstance(est, VotingClassifier | VotingRegressor):
        names = [n for n, e in est.estimators if e != "drop"]
        return list(zip(names, est.estimators_, strict=True))
    if isinstance(est, GreedyEnsembleClassifier | GreedyEnsembleRegressor):
        return [(est.estimators[i][0], e) for i, e in zip(est.members_, est.estimators_,
                                                          strict=True)]  # fmt: skip
    if isinstance(est, StackingEnsembleClassifier | StackingEnsembleRegressor):
        return [(n, e) for (n, _), e in zip(est.estimators, est.estimators_, strict=True)]
    return None


def _stacking_parts(est: Any) -> list[tuple[str, Any]]:
    """A stacking ensemble's meta-learner and its fitted passthrough transformer, if any."""
    if not isinstance(est, StackingEnsembleClassifier | StackingEnsembleRegressor):
        return []
    parts = [("final_estimator", est.final_estimator_)]
    if getattr(est, "passthrough_", None) is not None:
        parts.append(("passthrough", est.passthrough_))
    return parts


def _walk(est: Any, path: str) -> list[tuple[str, Any]]:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    found = [(path, est)]
    est = pipeline_of(est)  # a member that learned its target's log: its pipeline
    members = _members(est)
    if members is not None:
        for name, member in [*members, *_stacking_parts(est)]:
            found += _walk(member, f"{path} › {name}")
    elif isinstance(est, Pipeline):
        for name, step in est.steps:
            found += _walk(step, f"{path} › {name}")
    elif isinstance(est, ColumnTransformer):
        for name, step, _cols in getattr(est, "transformers_", est.transformers):
            if not isinstance(step, str):
                found += _walk(step, f"{path} › {name}")
    return found


def _root(est: Any) -> str:
    return "ensemble" if _members(est) is not None else "pipeline"


def _blocking(est: Any) -> tuple[str, str] | None:
    for path, step in _walk(est, _root(est)):
        for r in _refusals():
            if isinstance(step, r.cls) and r.applies(step):
                return f"`{path}` ({type(step).__name__}: {r.what})", r.instead
    return None


def blocking_step(pipeline: Any) -> str | None:
    """The first step ONNX cannot express faithfully, as ``'`pipeline › prep › text_note`
    (TextTfidf: text TF-IDF: ...)'``; None when the model converts (the check may still refuse
    it beyond tolerance)."""
    found = _blocking(pipeline)
    return found[0] if found else None


def _check_convertible(est: Any) -> None:
    """A Knobs pipeline (preprocessing, then one model), or a voting, greedy or stacking
    ensemble of them; anything else is refused before any conversion is tried."""
    members = _members(est)
    if members is None and _is_knobs_pipeline(est):
        return
    if members is not None:
        bad = [n for n, m in members if not _is_knobs_pipeline(pipeline_of(m))]
        passthrough = dict(_stacking_parts(est)).get("passthrough")
        if passthrough is not None and _ct_of(passthrough) is None:
            raise ExportError(
                f"ONNX export of stacking needs its passthrough to be Knobs' preprocessing, but "
                f"it is `{type(passthrough).__name__}`. Use --format skops."
            )
        if not bad:
            return
        raise ExportError(
            f"ONNX export needs every ensemble member to be a Knobs pipeline, but member "
            f"`{bad[0]}` is `{type(dict(members)[bad[0]]).__name__}`. Use --format skops, which "
            "holds any scikit-learn model."
        )
    raise ExportError(
        f"ONNX export needs a Knobs pipeline (preprocessing, then one model) or a voting, "
        f"greedy or stacking ensemble of them, got `{type(est).__name__}`. Use --format skops, "
        "which holds any scikit-learn model."
    )


def _pipelines(est: Any) -> list[Any]:
    members = _members(est)
    return [pipeline_of(m) for _n, m in members] if members is not None else [est]


def _column_steps(est: Any) -> list[Any]:
    """Every ColumnTransformer that reads the table: each member's, and stacking's passthrough."""
    cts = [_columns_step(p) for p in _pipelines(est)]
    passthrough = dict(_stacking_parts(est)).get("passthrough")
    return cts + ([_ct_of(passthrough)] if passthrough is not None else [])


# --- the graph's inputs --------------------------------------------------------------------------


def date_input(column: str, part: str) -> str:
    """The graph input holding one part of a date column: ``signup_date__year``."""
    return f"{column}__{part}"


def _columns_schema(prep: Any) -> dict[str, str]:
    schema: dict[str, str] = {}
    for _name, step, cols in prep.transformers_:
        if isinstance(step, str):
            continue
        first = step.steps[0][1] if hasattr(step, "steps") else step
        for c in cols:
            if isinstance(first, DateParts):
                for part in DATE_PARTS:
                    schema[date_input(str(c), part)] = f"{DATE_KIND}.{part}"
            else:
                schema[str(c)] = first.kind if isinstance(first, KindCoercer) else "numeric"
    return schema


def onnx_schema(estimator: Any) -> dict[str, str]:
    """graph input name -> kind (``numeric``, ``boolean``, ``categorical``, ``datetime.year``,
    ...), read from the fitted ColumnTransformer(s): an ensemble's members share the inputs."""
    schema: dict[str, str] = {}
    columns: set[str] = set()
    for prep in _column_steps(estimator):
        columns |= {str(c) for _n, s, cols in prep.transformers_ if not isinstance(s, str)
                    for c in cols}  # fmt: skip
        for name, kind in _columns_schema(prep).items():
            if schema.setdefault(name, kind) != kind:
                raise ExportError(
                    f"Ensemble members read column `{name}` as different kinds ({schema[name]} "
                    f"and {kind}); one ONNX graph needs one input per column. Use --format skops."
                )
    clash = sorted(n for n, k in schema.items() if k.startswith(f"{DATE_KIND}.") and n in columns)
    if clash:
        raise ExportError(
            f"The ONNX input for a date part, `{clash[0]}`, has the name of a column of the "
            "table; rename that column, or use --format skops."
        )
    return schema


def date_columns(schema: Mapping[str, str]) -> dict[str, list[tuple[str, str]]]:
    """date column -> [(graph input, part)]: the columns whose parts are computed inputs."""
    out: dict[str, list[tuple[str, str]]] = {}
    for name, kind in schema.items():
        if kind.startswith(f"{DATE_KIND}."):
            part = kind.split(".", 1)[1]
            column = name[: -len(date_input("", part))]
            out.setdefault(column, []).append((name, part))
    return out


def onnx_inputs(schema: Mapping[str, str], X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The graph's inputs from a table with safe column names: the cleaning Knobs' steps do
    before the graph (:class:`KindCoercer`'s, and :class:`DateParts` itself for dates)."""
    feeds: dict[str, np.ndarray] = {}
    for column, parts in date_columns(schema).items():
        values = DateParts().fit(X[[column]]).transform(X[[column]])
        for name, part in parts:
            feeds[name] = values[:, [DATE_PARTS.index(part)]].astype(np.float32)
    for safe, kind in schema.items():
        if safe in feeds:
            continue
        s = X[safe]
        if kind in ("numeric", "boolean"):
            feeds[safe] = to_float(s, kind).to_numpy(dtype=np.float32).reshape(-1, 1)
        else:
            values = to_category(s).fillna(MISSING)
            feeds[safe] = values.astype(str).to_numpy(dtype=object).reshape(-1, 1)
    return feeds


# --- the graph copy ------------------------------------------------------------------------------


def _rewrite_columns(prep: Any) -> None:
    """Put the stand-ins above, in place, where a (copied) ColumnTransformer has steps done
    before the graph; a date branch reads the date-part inputs instead of the date columns."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    for t, (tname, step, cols) in enumerate(prep.transformers_):
        steps = step.steps if isinstance(step, Pipeline) else [(tname, step)]
        if isinstance(steps[0][1], DateParts):
            cols = [date_input(str(c), part) for c in cols for part in DATE_PARTS]
            steps[0] = (steps[0][0], _Prefilled())
        for i, (name, sub) in enumerate(steps):
            if isinstance(sub, SimpleImputer) and sub.fill_value == MISSING:
                steps[i] = (name, _Prefilled())
            elif isinstance(sub, SimpleImputer) and np.asarray(sub.statistics_).dtype.kind == "f":
                steps[i] = (name, _NumericImputer(sub))
        prep.transformers_[t] = (tname, step if isinstance(step, Pipeline) else steps[0][1], cols)


def _pipeline_graph(pipeline: Any) -> Any:
    """A deep copy of a member pipeline (or of stacking's passthrough) ready for skl2onnx."""
    graph = copy.deepcopy(pipeline)
    _rewrite_columns(_columns_step(graph) or _ct_of(graph))
    return graph


def _member_graph(member: Any) -> Any:
    """A pipeline's graph copy; one that learned its target's log maps its output back with
    ``exp`` (before an ensemble blends or stacks it), as its wrapper does."""
    graph = _pipeline_graph(pipeline_of(member))
    if target_of(member) == "none":
        return graph
    return _Blend([graph], np.ones(1), "value", exp=True)


def _graph_copy(estimator: Any) -> tuple[Any, list[Any]]:
    """The estimator as skl2onnx will convert it, and the classifiers whose ZipMap to turn off."""
    from sklearn.base import is_classifier
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    if target_of(estimator) == "log":
        return _member_graph(estimator), []
    members = _members(estimator)
    if members is None:
        graph = _pipeline_graph(estimator)
        model = graph.steps[-1][1]
        return graph, [model] if is_classifier(model) else []
    graphs = [_member_graph(m) for _n, m in members]
    classifiers = [g.steps[-1][1] for g in graphs
                   if hasattr(g, "steps") and is_classifier(g.steps[-1][1])]  # fmt: skip
    parts = dict(_stacking_parts(estimator))
    if parts:
        final = copy.deepcopy(parts["final_estimator"])
        passthrough = parts.get("passthrough")
        stack = _Stack(
            graphs, None if passthrough is None else _pipeline_graph(passthrough), final,
            is_classifier(estimator), is_classifier(estimator) and len(estimator.classes_) == 2,
        )  # fmt: skip
        return stack, classifiers + ([final] if is_classifier(final) else [])
    if isinstance(estimator, VotingClassifier | VotingRegressor):
        raw = estimator._weights_not_none  # noqa: SLF001 - scikit-learn's own weighting
        weights = np.ones(len(graphs)) if raw is None else np.asarray(raw, dtype=np.float64)
    else:
        weights = np.asarray(estimator.weights_, dtype=np.float64)[estimator.members_]
    weights = weights / weights.sum()
    if not is_classifier(estimator):
        return _Blend(graphs, weights, "value"), classifiers
    classes = np.asarray(estimator.classes_)
    if classes.dtype.kind not in "iub":
        raise ExportError(
            f"The ensemble's classes are `{classes.dtype}` values; its ONNX graph labels rows with "
            "integer class codes, as Knobs' models do. Use --format skops."
        )
    for name, member in members:
        if not np.array_equal(np.asarray(member.classes_), classes):
            raise ExportError(
                f"Member `{name}` knows classes {list(member.classes_)}, the ensemble "
                f"{list(classes)}: their probabilities cannot be averaged column by column. "
                "Use --format skops."
            )
    hard = isinstance(estimator, VotingClassifier) and estimator.voting == "hard"
    return _Blend(graphs, weights, "votes" if hard else "proba", classes), classifiers


# --- converting and checking ---------------------------------------------------------------------


def to_onnx(
    pipeline: Any, task: str, X_check: pd.DataFrame
) -> tuple[bytes, dict[str, str], OnnxCheck]:
    """Convert, then compare with the fitted estimator on ``X_check``; refuse beyond tolerance.

    ``pipeline`` is a Knobs pipeline or a voting, greedy or stacking ensemble of them, or a
    Knobs pipeline that learned its target's log (``knobs.pipelines.with_target``): its graph
    ends in an ``Exp`` node, and the check compares it with the wrapper's own predictions.
    """
    estimator, pipeline = pipeline, pipeline_of(pipeline)
    _check_convertible(pipeline)
    blocked = _blocking(pipeline)
    if blocked:
        raise ExportError(
            f"This model cannot be exported to ONNX: step {blocked[0]} has no faithful ONNX "
            f"equivalent. "
            f"{blocked[1]}"
        )
    _register()
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    schema = onnx_schema(pipeline)
    initial = [
        (c, StringTensorType([None, 1]) if k == "categorical" else FloatTensorType([None, 1]))
        for c, k in schema.items()
    ]
    graph, classifiers = _graph_copy(estimator)
    options = {id(m): {"zipmap": False} for m in classifiers} or None
    try:
        onx = convert_sklearn(
            graph,
            initial_types=initial,
            options=options,
            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        )
    except Exception as exc:  # skl2onnx raises plain RuntimeError/NotImplementedError
        models = ", ".join(sorted({f"`{type(p.steps[-1][1]).__name__}`"
                                   for p in _pipelines(pipeline)}))  # fmt: skip
        raise ExportError(
            f"skl2onnx cannot convert this model ({models}) "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]}). Use --format skops."
        ) from None
    data = onx.SerializeToString()
    check = compare(data, estimator, task, schema, X_check)
    if check.max_abs_diff > check.tolerance:
        raise ExportError(
            f"The ONNX graph differs from the fitted model by up to {check.max_abs_diff:.3g} on "
            f"the {check.compared} of {check.rows} training rows, more than the tolerance "
            f"{check.tolerance:.3g}. Use --format skops, which reloads exactly."
        )
    return data, schema, check


def _session(data: bytes) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def run_onnx(
    data: bytes, schema: Mapping[str, str], X: pd.DataFrame, session: Any = None
) -> dict[str, np.ndarray]:
    """Run the graph with onnxruntime: ``{'label': ..., 'proba': ...}`` or ``{'value': ...}``."""
    session = session if session is not None else _session(data)
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
        self._loaded: Any = None

    def _run(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        if self._loaded is None:  # one onnxruntime session, made on first use
            self._loaded = _session(self.data)
        return run_onnx(self.data, self.inputs, X, self._loaded)

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
