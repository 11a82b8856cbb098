"""A study's plan: the data split, folds, models and metric, written into the study once.

Workers, the dashboard and a later ``--resume`` all rebuild the same problem from it, so nothing
about a search lives only in the memory of the process that started it. The train and test
splits are saved beside the study as Parquet (typed, compact, no pickle).
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from knobs.config import SearchConfig
from knobs.data import ColumnProfile, Dataset
from knobs.errors import ConfigError, StudyError
from knobs.metrics import Direction, Metric, get_metric
from knobs.models import AUTO, ModelSpec, is_wide, resolve_models
from knobs.pipelines import grid_for, grid_size_for, target_transforms
from knobs.portable import time_order
from knobs.pruners import get_pruner
from knobs.study._objective import OOF_MAX_VALUES
from knobs.study._pipeline import Problem
from knobs.study.keys import PLAN

TARGET_COLUMN = "__knobs_target__"
#: The split's row numbers in the prepared table (train, test), beside the Parquet parts.
ROWS_FILE = "rows.npz"
#: The part of the training split a sampled search left out (``StudyPlan.n_extra``).
EXTRA = "extra"
_VERSIONED = ("knobs", "optuna", "scikit-learn", "xgboost-cpu", "xgboost", "pandas", "numpy")


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


@dataclass(frozen=True)
class StudyPlan:
    """What a study searches, as plain JSON-able data (stored as a study user attribute)."""

    config: SearchConfig
    task: str
    metric: str
    direction: str
    models: tuple[str, ...]
    target: str
    classes: tuple[str, ...]
    columns: tuple[ColumnProfile, ...]
    notices: tuple[str, ...]
    n_dropped_target: int
    fingerprint: str
    folds: int
    n_train: int
    n_test: int
    data_dir: str
    source: str
    versions: Mapping[str, str] = field(default_factory=dict)
    created: str = ""
    #: The user's own test table (its file name), when one scored the final model instead of a
    #: share of the training table; "" otherwise.
    test_source: str = ""
    #: What a regression trial may learn (``knobs.pipelines.target_transforms``): the target
    #: as is, its log, or either (``prep.target`` is then tuned). Older studies: as is.
    target_transforms: tuple[str, ...] = ("none",)
    #: How the training file was read (delimiter, decimal mark, encoding: ``RawTable.reading``),
    #: so an export's train.py reads it the same way; empty for a DataFrame or an older study.
    reading: Mapping[str, str] = field(default_factory=dict)
    #: A search scored on a sample of the training split (``knobs.study._sample``): the rows it
    #: left out, which only the delivered model's refit on every row learns from, and the rows
    #: the sample was asked for (``portable.sample_indices``, which train.py calls too); 0, 0:
    #: every training row was searched.
    n_extra: int = 0
    sample: int = 0
    #: The metric's cross-validated score of predicting a constant on the study's folds
    #: (``knobs.metrics.constant_cv``): what a model must beat to have learned anything from the
    #: columns. None for an older study, or where it cannot be scored.
    constant: float | None = None

    # --- derived -------------------------------------------------------------------------
    def metric_obj(self) -> Metric:
        return get_metric(self.metric, self.task)

    def specs(self) -> dict[str, ModelSpec]:
        """The models with the user's space overrides applied."""
        specs = resolve_models(list(self.models), self.task)
        return {s.name: s.with_params(self.config.space.get(s.name, ())) for s in specs}

    def grid_size(self) -> int:
        """Grid points (defaults trials aside), the preprocessing's included when searched."""
        return sum(self.grid_size_for(s) for s in self.specs().values())

    def grid_for(self, spec: ModelSpec) -> dict[str, list[Any]]:
        """The grid GridSampler walks for one model (with ``prep.*`` in a pipeline search)."""
        return grid_for(spec, self.config.search_pipeline)

    def grid_size_for(self, spec: ModelSpec) -> int:
        return grid_size_for(spec, self.config.search_pipeline)

    def schema(self) -> dict[str, str]:
        """User's column name -> kind, for the columns the models use."""
        return {c.name: c.kind for c in self.columns if c.used}

    @property
    def auto_models(self) -> bool:
        """``--models auto``: the budget is spread across the families by promise."""
        return AUTO in self.config.models and len(self.models) > 1

    @property
    def goal(self) -> Direction:
        """Which way the study's metric is better (``plan.direction`` as a :class:`Direction`)."""
        return Direction(self.direction)

    # --- persistence ---------------------------------------------------------------------
    def to_attr(self) -> dict[str, Any]:
        data = asdict(self)
        data["config"] = self.config.to_dict()
        data["columns"] = [asdict(c) for c in self.columns]
        return data

    @classmethod
    def from_attr(cls, data: Mapping[str, Any]) -> StudyPlan:
        data = dict(data)
        columns = tuple(
            ColumnProfile(**{**c, "flags": tuple(c.get("flags", ())),
                            "formats": tuple(c.get("formats", ()))}) for c in data.pop("columns")
        )
        return cls(
            config=SearchConfig.from_dict(data.pop("config")),
            columns=columns,
            models=tuple(data.pop("models")),
            classes=tuple(data.pop("classes")),
            notices=tuple(data.pop("notices")),
            target_transforms=tuple(data.pop("target_transforms", ("none",))),
            **data,
        )

    def load_split(self, part: str = "train") -> tuple[pd.DataFrame, pd.Series]:
        """``"train"`` or ``"test"``; ``"all"``: both, in the table's own row order (the rows
        train.py reads), for a study that kept its split's row numbers, with the training rows
        a sampled search left out (``n_extra``)."""
        if part == "all":
            return self._load_all()
        frame = pd.read_parquet(Path(self.data_dir) / f"{part}.parquet")
        y = frame.pop(TARGET_COLUMN)
        return frame, y

    def _load_all(self) -> tuple[pd.DataFrame, pd.Series]:
        names = ("train", "test", EXTRA) if self.n_extra else ("train", "test")
        with np.load(Path(self.data_dir) / ROWS_FILE, allow_pickle=False) as rows:
            order = np.argsort(np.concatenate([rows[p] for p in names]), kind="stable")
        parts = [self.load_split(p) for p in names]
        X = pd.concat([p[0] for p in parts], ignore_index=True).iloc[order]
        y = pd.concat([p[1] for p in parts], ignore_index=True).iloc[order]
        return X.reset_index(drop=True), y.reset_index(drop=True)

    @property
    def fits_all_rows(self) -> bool:
        """Whether the delivered model is refitted on every labelled row after its test score
        (``config.final_fit == "all"``; a study made before Knobs kept the split's row numbers
        cannot, and fits on the training split as it always did; with a test table of the user's
        own, the training table is every row the model may learn from)."""
        return (
            self.config.final_fit == "all"
            and not self.test_source
            and (Path(self.data_dir) / ROWS_FILE).exists()
        )

    @property
    def n_final(self) -> int:
        """The rows the delivered model is fitted on."""
        if not self.fits_all_rows:
            return self.n_train
        return self.n_train + self.n_test + self.n_extra

    def searched_words(self) -> str:
        """The rows trials are scored on, as the delivery's words name them."""
        if self.n_extra:
            return f"the {self.n_train:,} training rows searched"
        return "the training split"

    def time_safe_name(self) -> str | None:
        """The feature name of the date column the study splits by (``config.time_column``)."""
        name = self.config.time_column
        return next((c.safe_name for c in self.columns if c.name == name), None) if name else None

    def study_folds(self, X: pd.DataFrame, y: pd.Series) -> list[tuple[np.ndarray, np.ndarray]]:
        """The study's folds over its training split: the ones every trial is scored on."""
        column = self.time_safe_name()
        order = time_order(X[column]) if column else None
        return make_folds(y, self.task, self.folds, self.config.seed, order)

    @property
    def oof_values(self) -> int:
        """How many values one trial's out-of-fold predictions hold: a row's class probabilities
        (two for a binary target) or its prediction, for every training row."""
        outputs = (
            max(1, len(self.classes)) if self.task == "multiclass" else 2 if self.classes else 1
        )
        return self.n_train * outputs

    def keeps_oof(self) -> bool:
        """Out-of-fold predictions are kept when asked, or by default when they are small."""
        if self.config.keep_oof is not None:
            return self.config.keep_oof
        return self.oof_values <= OOF_MAX_VALUES

    def oof_dir(self) -> Path:
        return Path(self.data_dir) / "oof"

    def problem(self, *, keep_oof: bool = True) -> Problem:
        """What a worker scores trials on: the training split, its folds, the models and metric,
        what trials report to the pruner and whether boosted models stop early. ``keep_oof``
        False: keep no out-of-fold predictions (a worker on another host has nowhere to)."""
        X, y = self.load_split("train")
        pruner = get_pruner(self.config.pruner)
        return Problem(
            X=X,
            y=y,
            task=self.task,
            metric=self.metric_obj(),
            models=self.specs(),
            columns=self.columns,
            folds=self.study_folds(X, y),
            reports=None if pruner.name == "none" else pruner.reports,
            early_stopping=self.config.early_stopping,
            grid_only=self.config.strategy == "grid",
            search_pipeline=self.config.search_pipeline,
            target_transforms=self.target_transforms,
            oof_dir=self.oof_dir() if keep_oof and self.keeps_oof() else None,
        )


#: Above this many training rows, ``cv=None`` means 3 folds instead of 5.
LARGE_TABLE_ROWS = 20_000


def auto_folds(n_train: int, requested: int | None) -> tuple[int, str | None]:
    """The fold count for ``requested`` folds (None: sized to the table), with a notice.

    Five folds by default; on a large table each fold's score is already steady, and 3 folds
    give 5/3 as many trials in the same time.
    """
    if requested is not None:
        return requested, None
    if n_train > LARGE_TABLE_ROWS:
        return 3, (
            f"Using 3-fold cross-validation: {n_train:,} training rows give steady fold scores, "
            "and 3 folds leave time for more trials than 5 (ask for 5 folds to change it: "
            "`--cv 5`, or Folds on the Search page)."
        )
    return 5, None


def make_folds(
    y: pd.Series, task: str, k: int, seed: int, order: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The same folds in every worker and every resume: seeded, and stratified for classes;
    with ``order`` (rows from earliest to latest), ``k`` consecutive periods instead."""
    if order is not None:
        blocks = np.array_split(np.asarray(order), k)
        return [
            (np.sort(np.concatenate([b for j, b in enumerate(blocks) if j != i])), np.sort(block))
            for i, block in enumerate(blocks)
        ]
    splitter = (
        KFold(k, shuffle=True, random_state=seed)
        if task == "regression"
        else StratifiedKFold(k, shuffle=True, random_state=seed)
    )
    return list(splitter.split(np.zeros(len(y)), y))


def save_split(
    directory: Path,
    train: Dataset,
    test: Dataset,
    rows: tuple[np.ndarray, np.ndarray],
    extra: tuple[Dataset, np.ndarray] | None = None,
) -> None:
    """The parts as Parquet, and their row numbers in the table (``rows``: train, test; with
    ``extra``, the training rows a sampled search left out, and theirs)."""
    parts = [("train", train), ("test", test)] + ([(EXTRA, extra[0])] if extra else [])
    for part, ds in parts:
        frame = ds.X.copy()
        frame[TARGET_COLUMN] = ds.y.to_numpy()
        frame.to_parquet(directory / f"{part}.parquet", index=False)
    kept = {"train": rows[0], "test": rows[1]} | ({EXTRA: extra[1]} if extra else {})
    np.savez(directory / ROWS_FILE, **kept)


def build_plan(
    dataset: Dataset,
    config: SearchConfig,
    *,
    data_dir: Path,
    source: str,
    folds: int,
    notices: tuple[str, ...],
    n_train: int,
    n_test: int,
    test_source: str = "",
    n_extra: int = 0,
    sample: int = 0,
) -> StudyPlan:
    specs = resolve_models(
        list(config.models), dataset.task, wide=is_wide(len(dataset.y), dataset.X.shape[1])
    )
    metric = get_metric(config.metric, dataset.task)
    for name in config.space:
        if name not in {s.name for s in specs}:
            raise_unknown_space(name, [s.name for s in specs])
    transforms, transform_notice = target_transforms(
        dataset.y, dataset.task, config.target_transform, target=dataset.target,
        tuned=config.strategy != "grid",
    )  # fmt: skip
    if transform_notice:
        notices = (*notices, transform_notice)
    return StudyPlan(
        config=config,
        task=dataset.task,
        metric=metric.name,
        direction=metric.direction,
        models=tuple(s.name for s in specs),
        target=dataset.target,
        classes=tuple(dataset.classes),
        columns=tuple(dataset.columns),
        notices=tuple(dataset.notices) + notices,
        n_dropped_target=dataset.n_dropped_target,
        fingerprint=dataset.fingerprint,
        folds=folds,
        n_train=n_train,
        n_test=n_test,
        data_dir=str(data_dir),
        source=source,
        versions=library_versions(),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        test_source=test_source,
        target_transforms=transforms,
        reading=dict(dataset.reading),
        n_extra=n_extra,
        sample=sample,
    )


def raise_unknown_space(name: str, models: list[str]) -> None:
    raise ConfigError(
        f"A search-space override names model `{name}`, which this search does not use "
        f"(models: {models})."
    )


def read_plan(study: optuna.Study) -> StudyPlan:
    """The plan stored in a Knobs study; a study from another tool is refused by name."""
    data = PLAN.get(study)
    if data is None:
        raise StudyError(
            f"Study `{study.study_name}` was not created by Knobs (it has no plan); "
            "open it with optuna-dashboard instead."
        )
    return StudyPlan.from_attr(data)
