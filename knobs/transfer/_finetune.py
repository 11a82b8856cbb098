"""Fine-tune an exported model on new rows: keep its preprocessing, continue its training.

The bundle is loaded the safe way only (``knobs.export.load_bundle``: skops with the card's exact
trusted types, or XGBoost's own format; never pickle). The new rows pass the same schema check
as ``knobs predict`` (a missing column is an error naming it, an unknown category a warning).
Part of them is held out; on it three models are compared: the old model as is, the fine-tuned
one and one trained from scratch on the new rows with the same parameters. The fine-tuned model
is written as a normal export bundle whose card records its parent (file hash, study, trial) and
the rows it was tuned on.

What fine-tuning means per family (``FINETUNE_FAMILIES``): boosting continues from the saved
model, forests add trees grown on the new rows, the MLP continues its epochs, a linear model
refits starting from its coefficients. Where it means nothing (kNN, SVM, Ridge's closed form,
ensembles) it is refused, and the refusal says what to do instead.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from knobs import portable
from knobs.config import SearchConfig
from knobs.data import ColumnProfile, read_table
from knobs.errors import ConfigError, DataError, ExportError
from knobs.metrics import Direction, get_metric
from knobs.models import PATIENCE, REGISTRY
from knobs.pipelines import learned_target, pipeline_of, target_of, with_target
from knobs.study import TARGET_COLUMN, StudyPlan

#: Share of the new rows kept aside to compare the three models.
HOLDOUT = 0.25
#: Share of the rows tuned on that steers early stopping (XGBoost, histogram boosting, MLP).
VALIDATION = 0.2


@dataclass(frozen=True)
class Tuner:
    """How one family is fine-tuned: what it means (said in the report and on the card) and the
    function ``tune(model, Xt_fit, y_fit, Xt_val, y_val, extra, seed, params=, task=) ->
    (model, details)`` that continues training on already preprocessed rows (``params``: the
    card's tuned parameters); it never changes the parent ``model`` in place."""

    meaning: str
    tune: Callable[..., tuple[Any, dict[str, Any]]] | None
    refusal: str = ""


def _xgboost(model: Any, Xf: Any, yf: Any, Xv: Any, yv: Any, extra: int | None, seed: int,
             params: Mapping[str, Any], task: str) -> Any:  # fmt: skip
    booster = model.get_booster()
    before = int(booster.num_boosted_rounds())
    # A booster read from XGBoost's format keeps no constructor parameters: the card's tuned
    # ones (learning rate, depth, ...) drive the new rounds.
    fresh = {**params, "n_estimators": extra or max(50, before)}
    tuned = REGISTRY["xgboost"].estimator(task, fresh, seed=seed)
    tuned.set_params(early_stopping_rounds=PATIENCE)
    tuned.fit(Xf, yf, eval_set=[(Xv, yv)], xgb_model=booster, verbose=False)
    after = int(tuned.get_booster().num_boosted_rounds())
    kept = int(getattr(tuned, "best_iteration", after - 1)) + 1
    return tuned, {"trees_before": before, "trees_after": after, "trees_used": kept}


def _hist_gb(model: Any, Xf: Any, yf: Any, Xv: Any, yv: Any, extra: int | None, seed: int,
             params: Mapping[str, Any], task: str) -> Any:  # fmt: skip
    before = int(model.n_iter_)
    tuned = copy.deepcopy(model)
    # Early stopping on its own validation slice of the new rows (scikit-learn splits it).
    tuned.set_params(
        warm_start=True, max_iter=before + (extra or max(50, before)), early_stopping=True,
        n_iter_no_change=PATIENCE, validation_fraction=VALIDATION,
    )  # fmt: skip
    tuned.fit(_stack(Xf, Xv), np.concatenate([yf, yv]))
    return tuned, {"iterations_before": before, "iterations_after": int(tuned.n_iter_)}


def _forest(model: Any, Xf: Any, yf: Any, Xv: Any, yv: Any, extra: int | None, seed: int,
            params: Mapping[str, Any], task: str) -> Any:  # fmt: skip
    before = len(model.estimators_)
    tuned = copy.deepcopy(model)
    tuned.set_params(warm_start=True, n_estimators=before + (extra or max(10, before // 2)))
    tuned.fit(_stack(Xf, Xv), np.concatenate([yf, yv]))
    return tuned, {"trees_before": before, "trees_after": len(tuned.estimators_)}


def _mlp(model: Any, Xf: Any, yf: Any, Xv: Any, yv: Any, extra: int | None, seed: int,
         params: Mapping[str, Any], task: str) -> Any:  # fmt: skip
    tuned = copy.deepcopy(model)
    # partial_fit runs one epoch per call; the early stopping here is ours, on the new rows'
    # validation slice (scikit-learn's own holds out a slice per call, which partial_fit refuses).
    tuned.set_params(early_stopping=False)
    if getattr(tuned, "best_loss_", None) is None:
        # Fitted with early stopping, the network tracked validation scores, not the training
        # loss that partial_fit compares against: start that record from its last loss.
        tuned.best_loss_ = float(tuned.loss_curve_[-1])
    best, best_score, epochs, since = copy.deepcopy(tuned), tuned.score(Xv, yv), 0, 0
    for epoch in range(1, (extra or 200) + 1):
        tuned.partial_fit(Xf, yf)
        score = tuned.score(Xv, yv)
        if score > best_score:
            best, best_score, epochs, since = copy.deepcopy(tuned), score, epoch, 0
        else:
            since += 1
            if since >= PATIENCE:
                break
    return best, {"epochs_kept": epochs, "epochs_run": epoch}


def _linear(model: Any, Xf: Any, yf: Any, Xv: Any, yv: Any, extra: int | None, seed: int,
            params: Mapping[str, Any], task: str) -> Any:  # fmt: skip
    tuned = copy.deepcopy(model)
    tuned.set_params(warm_start=True)
    tuned.fit(_stack(Xf, Xv), np.concatenate([yf, yv]))
    return tuned, {"iterations": int(np.max(getattr(tuned, "n_iter_", 0)))}


def _stack(a: Any, b: Any) -> Any:
    if hasattr(a, "iloc"):
        return pd.concat([a, b])
    import scipy.sparse as sp

    return sp.vstack([a, b]) if sp.issparse(a) else np.vstack([a, b])


FINETUNE_FAMILIES: dict[str, Tuner] = {
    "xgboost": Tuner(
        "continues boosting from the saved booster (`xgb_model`): new trees fitted on the new "
        "rows, stopped early on a validation slice of them; the old trees stay as they were",
        _xgboost,
    ),
    "hist_gb": Tuner(
        "adds boosting iterations with `warm_start` on the new rows (early stopping on a "
        "validation slice); the old iterations and the feature bins stay as they were",
        _hist_gb,
    ),
    "random_forest": Tuner(
        "adds trees grown on the new rows with `warm_start`; the old trees stay, so the forest "
        "votes with both", _forest,
    ),
    "extra_trees": Tuner(
        "adds trees grown on the new rows with `warm_start`; the old trees stay, so the forest "
        "votes with both", _forest,
    ),
    "mlp": Tuner(
        "continues training the network's weights with `partial_fit` epochs on the new rows, "
        "keeping the epoch that scores best on a validation slice of them", _mlp,
    ),
    "logistic": Tuner(
        "refits on the new rows starting from the old coefficients (`warm_start`); the fit is "
        "convex, so it ends where a fit from scratch would, in fewer iterations", _linear,
    ),
    "elastic_net": Tuner(
        "refits on the new rows starting from the old coefficients (`warm_start`); the fit is "
        "convex, so it ends where a fit from scratch would, in fewer iterations", _linear,
    ),
    "linear": Tuner("", None, "Ridge is solved in closed form: there is nothing to continue, "
                    "so fine-tuning would be a fit from scratch on the new rows. Run `knobs "
                    "tune` on the new rows instead (or warm start it from the old study)."),
    "sparse_linear": Tuner("", None, "its penalty is picked by an inner cross-validation on "
                           "the rows it learns from, so fine-tuning would be a fit from scratch "
                           "on the new rows. Run `knobs tune` on the new rows instead (or warm "
                           "start it from the old study)."),
    "sparse_logistic": Tuner("", None, "its L1 solver (liblinear) cannot start from the old "
                             "coefficients, so fine-tuning would be a fit from scratch on the "
                             "new rows. Run `knobs tune` on the new rows instead (or warm start "
                             "it from the old study)."),
    "knn": Tuner("", None, "a k-nearest-neighbours model is its training rows, and the bundle "
                 "does not hold them; train on old and new rows together with `knobs tune`."),
    "svm": Tuner("", None, "a kernel SVM cannot continue training on new rows; train it on the "
                 "new rows with `knobs tune` (warm started from the old study)."),
}  # fmt: skip


def how_finetuned(family: str) -> str:
    """What fine-tuning means for a family, or why it is refused."""
    tuner = FINETUNE_FAMILIES.get(family)
    if tuner is None:
        return f"not supported: {family} models (ensembles included) cannot be fine-tuned"
    return tuner.meaning or f"refused: {tuner.refusal}"


#: The three models a fine-tuning compares, as the report names them.
CONTENDERS = {"old": "the old model as is", "finetuned": "the fine-tuned model",
              "scratch": "the model trained from scratch"}  # fmt: skip


@dataclass
class FinetuneResult:
    """The three models on the held-out new rows, and where the fine-tuned bundle went."""

    family: str
    metric: str
    direction: str
    scores: dict[str, float]  # old, finetuned, scratch
    seconds: dict[str, float]  # finetuned, scratch
    rows: dict[str, int]  # tuned_on, held_out, dropped_target
    details: dict[str, Any]
    meaning: str
    warnings: tuple[str, ...]
    out: Path | None
    card: dict[str, Any] = field(default_factory=dict)
    #: The fine-tuned pipeline (takes the safe column names, like a loaded bundle).
    estimator: Any = field(default=None, repr=False)

    @property
    def winners(self) -> list[str]:
        """The contenders tied at the best score, best first (one unless they tie)."""
        goal = Direction(self.direction)
        ranked = goal.ranked(list(self.scores), key=lambda k: self.scores[k])
        top = self.scores[ranked[0]]
        return [k for k in ranked if abs(self.scores[k] - top) <= 1e-12]

    @property
    def winner(self) -> str:
        """The best contender; the fine-tuned model when it ties for best (it is the one written:
        "best: old" and "scores below the old model" were said of three scores of 1.0000)."""
        tied = self.winners
        return "finetuned" if "finetuned" in tied else tied[0]

    def tied_words(self) -> str:
        """`` (tied with the old model as is)`` after the winner's name, or "" without a tie."""
        others = [CONTENDERS[k] for k in self.winners if k != self.winner]
        return f" (tied with {' and '.join(others)})" if others else ""

    def best_words(self) -> str:
        """``old`` or, on a tie, ``finetuned, old, scratch (tied)`` (the winner first)."""
        tied = [self.winner] + [k for k in self.winners if k != self.winner]
        return ", ".join(tied) + (" (tied)" if len(tied) > 1 else "")

    @property
    def advice(self) -> str | None:
        """What to do when the fine-tuned model is not the best of the three: the bundle holds
        it all the same, and "best: old" followed by "wrote the fine-tuned model" left the user
        to guess which model to use."""
        if self.winner == "finetuned":
            return None
        instead = ("keep using the old model (its bundle is unchanged)" if self.winner == "old"
                   else "train a model on the new rows with `knobs tune`, or Search in the app, "
                        "warm-started from the old study")  # fmt: skip
        return (f"The fine-tuned model scores below {CONTENDERS[self.winner]} on these held-out "
                f"rows; the bundle written holds the fine-tuned model all the same. Better: "
                f"{instead}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "metric": self.metric,
            "direction": self.direction,
            "scores": self.scores,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "rows": self.rows,
            "details": self.details,
            "meaning": self.meaning,
            "winner": self.winner,
            "advice": self.advice,
            "warnings": list(self.warnings),
            "out": str(self.out) if self.out else None,
            "parent": (self.card.get("model", {}).get("extra") or {}).get("parent"),
        }


def _target_codes(frame: pd.DataFrame, card: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(target values or class codes of the labelled rows, mask of the labelled rows)."""
    target = str(card["target"])
    if target not in frame.columns:
        raise DataError(
            f"The new table has no target column `{target}`; fine-tuning learns from labelled "
            "rows. Add the column (rows without a value are dropped)."
        )
    info = portable.analyse_target(frame[target], target)
    present = info.present
    if card["task"] == "regression":
        if info.numbers is None:
            raise DataError(
                f"Target `{target}` should hold numbers (the model predicts a regression), but "
                "some values are not numbers. Fix the column or check the file."
            )
        return info.numbers.to_numpy(dtype="float64")[present], present
    classes = [str(c) for c in card["classes"]]
    labels = info.labels[present].astype(str)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataError(
            f"Target `{target}` has class(es) {', '.join(f'`{u}`' for u in unknown[:5])} the "
            f"model does not know (it predicts {', '.join(f'`{c}`' for c in classes)}); a "
            "fine-tuned model keeps its classes. Train a new model with `knobs tune` instead."
        )
    codes = labels.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype="int64")
    return codes, present


def _card_plan(card: Mapping[str, Any], data_dir: Path, source: str, n_train: int, n_test: int,
               fingerprint: str) -> StudyPlan:  # fmt: skip
    """A plan holding what the exporter reads, rebuilt from the parent's card (the parent's
    study may live elsewhere): its schema, task, classes and metric; the new rows' split."""
    columns = tuple(
        ColumnProfile(name=c["name"], safe_name=c["safe_name"], kind=c["kind"], dtype="",
                      missing_pct=0.0, n_unique=0, flags=(), used=True, reason="")
        for c in card["schema"]
    )  # fmt: skip
    data = card["data"]
    config = SearchConfig(
        target=str(card["target"]), task=str(card["task"]), models=(card["model"]["family"],),
        n_trials=1, metric=card["scores"]["metric"], seed=int(data.get("seed", 0)),
        test_size=float(data.get("test_size", 0.2)),
    )  # fmt: skip
    return StudyPlan(
        config=config, task=str(card["task"]), metric=str(card["scores"]["metric"]),
        direction=str(card["scores"]["direction"]), models=(card["model"]["family"],),
        target=str(card["target"]), classes=tuple(card["classes"]), columns=columns,
        notices=(), n_dropped_target=0, fingerprint=fingerprint, folds=int(data.get("folds", 5)),
        n_train=n_train, n_test=n_test, data_dir=str(data_dir), source=source,
        versions=dict(card.get("versions", {}).get("search", {})),
    )  # fmt: skip


def _model_file_hash(card: Mapping[str, Any]) -> dict[str, str]:
    return {
        f["name"]: f["sha256"]
        for f in card.get("files", [])
        if f["name"].startswith(("model", "preprocess"))
    }


def finetune(
    model: str | Path,
    data: str | Path | bytes | IO[bytes] | pd.DataFrame,
    *,
    out: str | Path | None = None,
    holdout: float = HOLDOUT,
    seed: int = 0,
    extra: int | None = None,
    name: str = "new.csv",
) -> FinetuneResult:
    """Fine-tune the exported model at ``model`` on the rows of ``data``; write the fine-tuned
    bundle to ``out`` (a new folder, or a path ending in .zip) when given.

    ``extra`` caps the rounds, trees or epochs added (default: about as many as the model had,
    less where early stopping ends sooner).
    """
    from knobs.export import export_model, load_bundle
    from knobs.export._source import ModelSource
    from knobs.predict import check_schema

    if not 0.05 <= holdout <= 0.5:
        raise ConfigError(
            f"`holdout` must be between 0.05 and 0.5 (a share of the new rows), but got {holdout}."
        )
    loaded = load_bundle(model)
    card = loaded.card
    family = str(card["model"]["family"])
    if card["model"].get("kind") == "ensemble" or family not in FINETUNE_FAMILIES:
        raise ExportError(
            f"`{model}` holds a {family} {card['model'].get('kind', 'model')}: fine-tuning "
            f"continues one model's training ({', '.join(k for k, t in FINETUNE_FAMILIES.items() if t.tune)}), "
            "and an ensemble has many. Fine-tune one of its members, or re-tune on the new rows."
        )
    tuner = FINETUNE_FAMILIES[family]
    if tuner.tune is None:
        raise ExportError(f"Cannot fine-tune a {family} model: {tuner.refusal}")
    if card["format"] not in ("skops", "xgboost"):
        raise ExportError(
            f"`{model}` is a {card['format']} bundle; fine-tuning needs the fitted estimator "
            "(export the model as skops or xgboost)."
        )
    # A model that learns the target's log: its pipeline learns the log of the new rows too.
    parent_model = loaded.estimator
    transform, pipeline = target_of(parent_model), pipeline_of(parent_model)
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2:
        raise ExportError(f"`{model}` does not hold a preprocessing + model pipeline.")
    frame = data if isinstance(data, pd.DataFrame) else read_table(data, name=name).frame
    y_all, present = _target_codes(frame, card)
    n_dropped = int((~present).sum())
    X_all, warnings = check_schema(frame.loc[present].reset_index(drop=True), card)
    if n_dropped:
        warnings.append(f"Dropped {n_dropped} row(s) without a `{card['target']}` value.")
    task, classes = str(card["task"]), [str(c) for c in card["classes"]]
    if len(y_all) < 20:
        raise DataError(
            f"The new table has {len(y_all)} labelled rows; fine-tuning needs at least 20."
        )
    try:
        tr, ho = portable.split_indices(y_all, task, holdout, seed, classes)
        if task != "regression":
            missing = [classes[c] for c in range(len(classes)) if not (y_all[tr] == c).any()]
            if missing:
                raise portable.TableError(
                    f"The new rows have no row of class(es) {', '.join(f'`{m}`' for m in missing)}; "
                    "a fine-tuned classifier needs every class it predicts among the rows it "
                    "learns from. Add rows of those classes."
                )
            fit_i, val_i = portable.split_indices(y_all[tr], task, VALIDATION, seed + 1, classes)
        else:
            fit_i, val_i = portable.split_indices(y_all[tr], task, VALIDATION, seed + 1)
    except portable.TableError as exc:
        raise DataError(str(exc)) from None
    X_tr, y_tr = X_all.iloc[tr].reset_index(drop=True), y_all[tr]
    X_ho, y_ho = X_all.iloc[ho].reset_index(drop=True), y_all[ho]
    metric = get_metric(card["scores"]["metric"], task)
    prep, old_model = Pipeline(pipeline.steps[:-1]), pipeline.steps[-1][1]
    scores = {"old": metric.score(parent_model, X_ho, y_ho)}
    learned = learned_target(transform, y_tr)
    # Fine-tuned: the preprocessing stays exactly as fitted; only the model learns.
    started = time.perf_counter()
    Xt_tr = prep.transform(X_tr)
    Xt_fit, Xt_val = _rows(Xt_tr, fit_i), _rows(Xt_tr, val_i)
    tuned, details = tuner.tune(
        old_model, Xt_fit, learned[fit_i], Xt_val, learned[val_i], extra, seed,
        params=dict(card["model"].get("params", {})), task=task,
    )  # fmt: skip
    finetuned = _rewrapped(parent_model, Pipeline([*prep.steps, (pipeline.steps[-1][0], tuned)]))
    seconds = {"finetuned": time.perf_counter() - started}
    scores["finetuned"] = metric.score(finetuned, X_ho, y_ho)
    # From scratch: the same pipeline and parameters, every step fitted on the new rows only.
    started = time.perf_counter()
    scratch = with_target(_scratch(pipeline, family, task, card, seed), transform)
    scratch.fit(X_tr, y_tr)
    seconds["scratch"] = time.perf_counter() - started
    scores["scratch"] = metric.score(scratch, X_ho, y_ho)
    rows = {"tuned_on": int(len(tr)), "held_out": int(len(ho)), "dropped_target": n_dropped}
    result = FinetuneResult(
        family=family, metric=metric.name, direction=str(metric.direction), scores=scores,
        seconds=seconds, rows=rows, details=details, meaning=tuner.meaning,
        warnings=tuple(warnings), out=None, estimator=finetuned,
    )  # fmt: skip
    if out is None:
        return result
    fingerprint = hashlib.sha256(
        pd.util.hash_pandas_object(X_tr, index=False).to_numpy().tobytes()
    ).hexdigest()
    with tempfile.TemporaryDirectory(prefix="knobs-finetune-") as tmp:
        split = X_tr.copy()
        split[TARGET_COLUMN] = y_tr
        split.to_parquet(Path(tmp) / "train.parquet", index=False)
        plan = _card_plan(card, Path(tmp), Path(name).name, len(tr), len(ho), fingerprint)
        parent = {
            "path": str(model), "files": _model_file_hash(card), "study": card.get("study"),
            "trial": card["model"].get("trial"), "label": card["model"].get("label"),
            "format": card["format"],
        }  # fmt: skip
        source = ModelSource(
            estimator=finetuned,
            label=f"{card['model'].get('label', family)}, fine-tuned on {len(tr)} new rows",
            kind="finetuned", family=family, params=dict(card["model"].get("params", {})),
            cv_score=None, test_score=scores["finetuned"], fit_s=seconds["finetuned"],
            trial=card["model"].get("trial"),
            extra={
                "baseline_label": f"parent model as is (on the {len(ho)} held-out new rows)",
                "train_py_note": (
                    "`train.py` fits the same pipeline with the parent's parameters from scratch "
                    f"on `{Path(name).name}`; it does not continue the parent's training, so it "
                    "rebuilds the from-scratch model this fine-tuning was compared with, not this "
                    "fine-tuned model. Use `knobs finetune` with the parent bundle to repeat it."
                ),
                "parent": parent,
                "tuned_on": {"source": Path(name).name, "rows": len(tr), "held_out": len(ho),
                             "fingerprint": fingerprint},
                "finetune": {"meaning": tuner.meaning, "details": details,
                             "holdout_scores": scores},
            },
        )  # fmt: skip
        exported = export_model(
            plan, source, card["format"], out, study=str(card.get("study") or ""),
            baseline_score=scores["old"],
        )  # fmt: skip
    return replace(result, out=exported.path, card=exported.card,
                   warnings=(*result.warnings, *exported.warnings))  # fmt: skip


def _rewrapped(parent: Any, pipeline: Pipeline) -> Any:
    """``pipeline`` (fitted) in the parent's fitted target wrapper, when the parent has one: the
    wrapper's fitted log/exp stays as it was, only the pipeline inside is the fine-tuned one."""
    if target_of(parent) == "none":
        return pipeline
    wrapped = copy.deepcopy(parent)
    wrapped.regressor_ = pipeline
    return wrapped


def _rows(X: Any, idx: np.ndarray) -> Any:
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def _scratch(
    pipeline: Pipeline, family: str, task: str, card: Mapping[str, Any], seed: int
) -> Pipeline:
    """The parent's pipeline unfitted, with its parameters (XGBoost: the card's, with the
    parent's number of trees, since a booster read from its own format keeps no constructor
    parameters)."""
    prep = clone(Pipeline(pipeline.steps[:-1]))
    name, last = pipeline.steps[-1]
    if family == "xgboost":
        params = dict(card["model"].get("params", {}))
        params["n_estimators"] = int(last.get_booster().num_boosted_rounds())
        params.pop("early_stopping_rounds", None)
        model = REGISTRY["xgboost"].estimator(task, params, seed=seed)
    else:
        model = clone(last)
    return Pipeline([*prep.steps, (name, model)])


def finetune_bytes(
    bundle: bytes, data: bytes, *, name: str = "new.csv", holdout: float = HOLDOUT, seed: int = 0
) -> tuple[FinetuneResult, bytes]:
    """``finetune`` for the Export page: a zipped bundle and a CSV held in memory in, the
    fine-tuned bundle as zip bytes out."""
    with tempfile.TemporaryDirectory(prefix="knobs-finetune-") as tmp:
        parent = Path(tmp) / "parent.zip"
        parent.write_bytes(bundle)
        out = Path(tmp) / "finetuned.zip"
        result = finetune(parent, data, out=out, holdout=holdout, seed=seed, name=name)
        return result, out.read_bytes()
