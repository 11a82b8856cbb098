"""Knobs against its peers at equal wall-clock (issue 10): a printed benchmark, not a test.

    python bench/peers.py                          # every table in bench/tables.py
    python bench/peers.py --tables breast_cancer,diabetes --quick   # a smoke run, minutes
    python bench/peers.py --pruners                # also: each pruner's time to the same score

Per table: one seeded 80/20 split (stratified for classes); every system learns from the same
80% and is scored on the same 20% with one metric function (binary: ROC AUC, multiclass:
accuracy, regression: R²). The systems, one at a time, each in its own fresh process:

- ``optuna_tpe``: a plain Optuna TPE loop, 30 trials of 3-fold CV over XGBoost (the space below),
  then a refit of the best. Its loop's wall time is B, the budget everyone else gets (the
  issue's definition), so it runs first.
- ``grid_search``: ``GridSearchCV`` over a typical small XGBoost grid (18 points), 3-fold.
- ``random_search``: ``RandomizedSearchCV``, 30 draws from the Optuna space, 3-fold.
- ``flaml``: FLAML ``AutoML`` with its default learners, ``time_budget=B``.
- ``knobs``: ``python -m knobs.cli tune TRAIN.csv --target T --timeout B`` with its defaults, in a
  throwaway ``KNOBS_HOME``; the best model is exported (skops) and ``knobs predict`` scores the
  shared test rows. The report's own ``test_score`` is Knobs' internal split of the 80%, so it
  is not used.

Preprocessing for the scikit-learn/Optuna peers is minimal and identical (``peer_matrix``):
one-hot categories (fitted on the training rows), datetimes as days since 1970, NaN left for
XGBoost. FLAML takes the DataFrame as it is (only names LightGBM refuses are renamed, the
same way); Knobs takes the CSV.

Cores: every system's process (and Knobs' workers, which inherit it) is pinned to the same
``--cores`` CPUs (default 2) and told to use them all: the three scikit-learn/Optuna peers run
their cross-validation fits in parallel (``n_jobs=cores`` in ``GridSearchCV``,
``RandomizedSearchCV`` and the Optuna loop's ``cross_val_score``) with XGBoost single-threaded
inside, as scikit-learn advises (threaded XGBoost on a small table mostly waits on its own
threads: in a smoke run on a busy machine, 6 Optuna trials took 124 s that way against 14 s
for 6 random-search draws fitted in parallel, and B would have measured that waste); FLAML gets
``n_jobs=cores``; Knobs keeps its default of one single-threaded worker per core. Not 1 for
everyone: that would force Knobs off its defaults (``--workers 1``) and measure another
product.

"wall" is each system's whole process, start-up to its final model (Knobs: the ``tune``
subprocess, start-up to refit; peers: the child process less its prediction and scoring);
"search" is the time inside the library call. Export and prediction are not counted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import tables as bench_tables  # noqa: E402  (bench/ is not a package)

SYSTEMS = ("optuna_tpe", "grid_search", "random_search", "flaml", "knobs")
PEERS = SYSTEMS[:-1]
METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
METRIC_LABEL = {"binary": "ROC AUC", "multiclass": "accuracy", "regression": "R²"}
FOLDS = 3
TRIALS = 30
QUICK_TRIALS = 6
# --quick only: 6 trials on an idle machine can take 4 s, less than Knobs needs to start its
# workers (it then finishes no trial and exits 1); B is raised to this floor, and says so.
QUICK_MIN_BUDGET = 20.0
PRED = "prediction"
PROBA = "p::"  # the children's probability columns: PROBA + class key
WITHIN = 0.05  # "Knobs wall within 5% of B"


# ----------------------------------------------------------------------------- shared pieces


def label_key(value: Any) -> str:
    """One spelling per class label across CSV round trips: 1, 1.0 and "1" are all "1"."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value).strip()
    return str(int(f)) if math.isfinite(f) and f.is_integer() else repr(f)


def positive_class(y: pd.Series) -> str:
    """scikit-learn's convention for the positive class of a binary target: the larger label."""
    return label_key(sorted(pd.unique(y.dropna()))[-1])


def held_out_score(task: str, y_true: pd.Series, pred: pd.DataFrame, positive: str | None) -> float:
    """The one metric function every system is scored with, on the shared test rows.

    ``pred`` has a ``prediction`` column and, for binary tasks, ``p::<class key>`` columns.
    """
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if task == "regression":
        return float(r2_score(y_true.to_numpy(float), pred[PRED].to_numpy(float)))
    truth = y_true.map(label_key).to_numpy()
    if task == "multiclass":
        return float(accuracy_score(truth, pred[PRED].map(label_key).to_numpy()))
    column = f"{PROBA}{positive}"
    if column not in pred:
        raise KeyError(f"no probability for the positive class `{positive}` in {list(pred)}")
    return float(roc_auc_score(truth == positive, pred[column].to_numpy(float)))


def _safe_name(name: str) -> str:
    """The name without what XGBoost (``[ ] <``) or LightGBM (JSON specials) refuse in features."""
    return re.sub(r'[\[\]<>,:{}"]', "_", str(name))


def peer_matrix(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The minimal, identical preprocessing of the scikit-learn/Optuna peers.

    Numbers stay as they are (NaN included: XGBoost handles it), booleans become 0/1, datetimes
    become days since 1970 (NaT -> NaN), every other column is one-hot encoded on the training
    rows' categories (a missing value or a category unseen in training is all zeros). Column
    names lose the characters XGBoost refuses (``[``, ``]``, ``<``).
    """
    parts_tr, parts_te = [], []
    for col in train.columns:
        a, b = train[col], test[col]
        if pd.api.types.is_bool_dtype(a):
            parts_tr.append(a.astype(float).rename(col))
            parts_te.append(b.astype(float).rename(col))
        elif pd.api.types.is_numeric_dtype(a):
            parts_tr.append(a.astype(float))
            parts_te.append(b.astype(float))
        elif pd.api.types.is_datetime64_any_dtype(a):
            epoch = pd.Timestamp("1970-01-01")
            parts_tr.append(((a - epoch).dt.total_seconds() / 86400.0).rename(col))
            parts_te.append(((b - epoch).dt.total_seconds() / 86400.0).rename(col))
        else:
            cats = sorted(pd.unique(a.dropna().astype(str)))
            sa, sb = a.astype(str).where(a.notna()), b.astype(str).where(b.notna())
            for c in cats:
                name = f"{col}={c}"
                parts_tr.append((sa == c).astype(float).rename(name))
                parts_te.append((sb == c).astype(float).rename(name))
    Xtr = pd.concat(parts_tr, axis=1)
    Xte = pd.concat(parts_te, axis=1)
    names = _dedupe([_safe_name(c) for c in Xtr.columns])
    Xtr.columns = names
    Xte.columns = names
    return Xtr, Xte


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}_{k}")
    return out


# ----------------------------------------------------------------------------- peers (children)


def _xgb(task: str, seed: int, n_jobs: int, **params: Any) -> Any:
    from xgboost import XGBClassifier, XGBRegressor

    cls = XGBRegressor if task == "regression" else XGBClassifier
    return cls(tree_method="hist", random_state=seed, n_jobs=n_jobs, **params)


def _cv(task: str, seed: int) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == "regression":
        return KFold(FOLDS, shuffle=True, random_state=seed)
    return StratifiedKFold(FOLDS, shuffle=True, random_state=seed)


def optuna_space(trial: Any) -> dict[str, Any]:
    """The typical XGBoost space of the issue, shared (as distributions) with the random search."""
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 1000),
        "max_depth": trial.suggest_int("max_depth", 2, 10),
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.3, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20.0, log=True),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }


def random_space() -> dict[str, Any]:
    from scipy.stats import loguniform, randint, uniform

    return {
        "n_estimators": randint(50, 1001),
        "max_depth": randint(2, 11),
        "learning_rate": loguniform(1e-3, 0.3),
        "subsample": uniform(0.5, 0.5),
        "colsample_bytree": uniform(0.5, 0.5),
        "min_child_weight": loguniform(0.5, 20.0),
        "reg_lambda": loguniform(1e-3, 10.0),
    }


def small_grid(quick: bool) -> dict[str, list[Any]]:
    """A typical small grid: depth x learning rate x rounds, 18 points (4 with --quick)."""
    if quick:
        return {"max_depth": [3, 6], "learning_rate": [0.1, 0.3], "n_estimators": [100]}
    return {"max_depth": [3, 6, 9], "learning_rate": [0.03, 0.1, 0.3], "n_estimators": [100, 300]}


@dataclass
class ChildJob:
    """What a child process needs: where the split lives and the system's settings."""

    system: str
    workdir: str
    target: str
    task: str
    seed: int
    cores: int
    budget: float | None
    quick: bool


def _encode(y: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    classes = np.array(sorted(pd.unique(y)), dtype=object)
    index = {c: i for i, c in enumerate(classes)}
    return y.map(index).to_numpy(np.int64), classes


def _frame_from(
    task: str, pred: np.ndarray, proba: np.ndarray | None, classes: Any
) -> pd.DataFrame:
    out = pd.DataFrame({PRED: pred})
    if task != "regression" and proba is not None:
        for i, c in enumerate(classes):
            out[f"{PROBA}{label_key(c)}"] = proba[:, i]
    return out


def run_child(job: ChildJob) -> dict[str, Any]:
    """Run one peer on the split in ``job.workdir``; write its predictions; return its timings."""
    import warnings

    warnings.filterwarnings("ignore")
    work = Path(job.workdir)
    train = pd.read_parquet(work / "train.parquet")
    test = pd.read_parquet(work / "test.parquet")
    y_train = train.pop(job.target)
    test = test.drop(columns=[job.target])
    info: dict[str, Any] = {}
    if job.system == "flaml":
        fit_s, pred, proba, classes = _flaml(job, train, y_train, test, info)
    else:
        Xtr, Xte = peer_matrix(train, test)
        info["columns"] = Xtr.shape[1]
        if job.task == "regression":
            y, classes = y_train.to_numpy(float), None
        else:
            y, classes = _encode(y_train)
        fit = {"optuna_tpe": _optuna, "grid_search": _grid, "random_search": _random}[job.system]
        fit_s, model = fit(job, Xtr, y, info)
        info["ready"] = time.time()
        raw = model.predict(Xte)
        proba = None if job.task == "regression" else model.predict_proba(Xte)
        pred = raw if job.task == "regression" else classes[np.asarray(raw, dtype=np.int64)]
    _frame_from(job.task, pred, proba, classes).to_csv(work / f"pred-{job.system}.csv", index=False)
    return {"search_s": fit_s, "model_ready": info.pop("ready"), "info": info}


def _optuna(job: ChildJob, X: pd.DataFrame, y: np.ndarray, info: dict) -> tuple[float, Any]:
    import optuna
    from sklearn.model_selection import cross_val_score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    scoring, cv = METRIC[job.task], _cv(job.task, job.seed)

    def objective(trial: optuna.Trial) -> float:
        model = _xgb(job.task, job.seed, 1, **optuna_space(trial))
        scores = cross_val_score(model, X, y, cv=cv, scoring=scoring, n_jobs=job.cores)
        return float(scores.mean())

    n_trials = QUICK_TRIALS if job.quick else TRIALS
    started = time.perf_counter()
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=job.seed)
    )
    study.optimize(objective, n_trials=n_trials)
    loop_s = time.perf_counter() - started
    model = _xgb(job.task, job.seed, 1, **study.best_params).fit(X, y)
    info.update(loop_s=loop_s, trials=n_trials, best_cv=study.best_value)
    return time.perf_counter() - started, model


def _sk_search(job: ChildJob, search: Any, X: pd.DataFrame, y: np.ndarray, info: dict) -> tuple:
    started = time.perf_counter()
    search.fit(X, y)
    info.update(best_cv=float(search.best_score_), candidates=len(search.cv_results_["params"]))
    return time.perf_counter() - started, search


def _grid(job: ChildJob, X: pd.DataFrame, y: np.ndarray, info: dict) -> tuple[float, Any]:
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        _xgb(job.task, job.seed, 1),
        small_grid(job.quick),
        scoring=METRIC[job.task],
        cv=_cv(job.task, job.seed),
        n_jobs=job.cores,
    )
    return _sk_search(job, search, X, y, info)


def _random(job: ChildJob, X: pd.DataFrame, y: np.ndarray, info: dict) -> tuple[float, Any]:
    from sklearn.model_selection import RandomizedSearchCV

    search = RandomizedSearchCV(
        _xgb(job.task, job.seed, 1),
        random_space(),
        n_iter=QUICK_TRIALS if job.quick else TRIALS,
        scoring=METRIC[job.task],
        cv=_cv(job.task, job.seed),
        n_jobs=job.cores,
        random_state=job.seed,
    )
    return _sk_search(job, search, X, y, info)


def _flaml(job: ChildJob, X: pd.DataFrame, y: pd.Series, X_test: pd.DataFrame, info: dict) -> tuple:
    from flaml import AutoML

    # The DataFrame as it is, but for names LightGBM refuses (`living_area [sqft]` stops FLAML).
    renamed = {c: _safe_name(c) for c in X.columns if _safe_name(c) != c}
    X, X_test = X.rename(columns=renamed), X_test.rename(columns=renamed)
    if renamed:
        info["renamed"] = len(renamed)
    automl = AutoML()
    started = time.perf_counter()
    automl.fit(
        X,
        y,
        task="regression" if job.task == "regression" else "classification",
        metric=METRIC[job.task],
        time_budget=job.budget,
        n_jobs=job.cores,
        seed=job.seed,
        verbose=0,
    )
    fit_s = time.perf_counter() - started
    info["ready"] = time.time()
    info.update(
        best_learner=automl.best_estimator,
        best_cv=1 - float(automl.best_loss),  # FLAML's loss for r2, roc_auc, accuracy: 1 - score
        trials=len(automl.config_history),
    )
    pred = np.asarray(automl.predict(X_test))
    if job.task == "regression":
        return fit_s, pred, None, None
    return fit_s, pred, np.asarray(automl.predict_proba(X_test)), list(automl.classes_)


# ----------------------------------------------------------------------------- the parent


@dataclass
class Outcome:
    """One system on one table: its held-out score and its times (None: it failed)."""

    system: str
    score: float | None = None
    wall_s: float | None = None
    search_s: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class TableResult:
    name: str
    task: str
    rows: int
    n_train: int
    n_test: int
    budget_s: float | None
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    pruners: list[dict[str, Any]] = field(default_factory=list)

    def peers_best(self) -> float | None:
        scores = [o.score for s, o in self.outcomes.items() if s != "knobs" and o.score is not None]
        return max(scores) if scores else None

    def winners(self) -> list[str]:
        scored = {s: o.score for s, o in self.outcomes.items() if o.score is not None}
        if not scored:
            return []
        top = max(scored.values())
        return [s for s, v in scored.items() if v == top]


def _pin(cpus: Sequence[int]) -> Callable[[], None]:
    def pin() -> None:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(cpus))

    return pin


def _run(cmd: list[str], log: Path, cpus: Sequence[int], env: dict[str, str], limit: float) -> int:
    """Run ``cmd`` pinned to ``cpus`` with output to ``log``; kill its own group past ``limit``."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            preexec_fn=_pin(cpus),
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            raise TimeoutError(f"{' '.join(cmd[:4])} ran past {limit:.0f} s; killed") from None


def _tail(log: Path, n: int = 2) -> str:
    """The log's last lines, last first: a traceback's final line says what went wrong."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(reversed(lines[-n:])) + f" (log: {log})"


def run_peer(
    system: str,
    work: Path,
    args: argparse.Namespace,
    target: str,
    task: str,
    budget: float | None,
    cpus: Sequence[int],
    y_test: pd.Series,
    positive: str | None,
) -> Outcome:
    job = ChildJob(system, str(work), target, task, args.seed, len(cpus), budget, args.quick)
    job_file = work / f"job-{system}.json"
    job_file.write_text(json.dumps(asdict(job)))
    result_file = work / f"result-{system}.json"
    log = work / f"{system}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", str(job_file)]
    started = time.time()
    limit = max(900.0, 20 * (budget or 60))
    try:
        rc = _run(cmd, log, cpus, dict(os.environ), limit)
        if rc != 0 or not result_file.exists():
            return Outcome(system, error=f"exit {rc}: {_tail(log)}")
        res = json.loads(result_file.read_text())
        pred = pd.read_csv(work / f"pred-{system}.csv")
        score = held_out_score(task, y_test, pred, positive)
    except Exception as exc:  # a failing peer is a row in the table, not the end of the run
        return Outcome(system, error=f"{type(exc).__name__}: {exc}")
    return Outcome(system, score, res["model_ready"] - started, res["search_s"], res["info"])


def knobs_help() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "knobs.cli", "tune", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return out.stdout + out.stderr


def knobs_tune(
    work: Path, label: str, target: str, budget: float, cpus: Sequence[int], extra: Sequence[str]
) -> tuple[dict[str, Any], float, float, dict[str, str]]:
    """``knobs tune`` as a user runs it; the report, its wall time, its start (epoch), its env."""
    home = work / f"home-{label}"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, KNOBS_HOME=str(home))
    out = work / f"knobs-{label}.json"
    cmd = [
        sys.executable,
        "-m",
        "knobs.cli",
        "tune",
        str(work / "train.csv"),
        "--target",
        target,
        "--timeout",
        f"{budget:.3f}",
        "--json",
        str(out),
        "--study",
        f"bench-{label}",
        *extra,
    ]
    log = work / f"knobs-{label}.log"
    started = time.time()
    rc = _run(cmd, log, cpus, env, max(900.0, 20 * budget))
    wall = time.time() - started
    if rc != 0 or not out.exists():
        raise RuntimeError(f"knobs tune exit {rc}: {_tail(log)}")
    return json.loads(out.read_text()), wall, started, env


def run_knobs(
    work: Path,
    args: argparse.Namespace,
    target: str,
    task: str,
    budget: float,
    cpus: Sequence[int],
    y_test: pd.Series,
    positive: str | None,
) -> Outcome:
    extra = args.knobs_args.split() if args.knobs_args else []
    try:
        report, wall, _, env = knobs_tune(work, "main", target, budget, cpus, extra)
        model_dir = work / "knobs-model"
        shutil.rmtree(model_dir, ignore_errors=True)
        log = work / "knobs-main.log"
        for cmd in (
            ["export", "--study", "bench-main", "--format", "skops", "--out", str(model_dir)],
            [
                "predict",
                str(model_dir),
                str(work / "test.csv"),
                "--out",
                str(work / "pred-knobs.csv"),
            ],
        ):
            rc = _run([sys.executable, "-m", "knobs.cli", *cmd], log, cpus, env, 900.0)
            if rc != 0:
                raise RuntimeError(f"knobs {cmd[0]} exit {rc}: {_tail(log)}")
        pred = pd.read_csv(work / "pred-knobs.csv")
        pred = pred.rename(
            columns={
                c: PROBA + label_key(c[len("probability_") :])
                for c in pred.columns
                if c.startswith("probability_")
            }
        )
        score = held_out_score(task, y_test, pred, positive)
    except Exception as exc:
        return Outcome("knobs", error=f"{type(exc).__name__}: {exc}")
    info = {
        "trials": report.get("n_trials"),
        "best_cv": report.get("best_score"),
        "metric": report.get("metric"),
        "internal_test_score": report.get("test_score"),
        "n_train_internal": report.get("n_train"),
        "fit_rows": (report.get("final_fit") or {}).get("rows"),
        "final": (report.get("final") or {}).get("kind"),
        "best_model": report.get("best_model"),
    }
    return Outcome("knobs", score, wall, report.get("wall_s"), info)


# ----------------------------------------------------------------------------- pruners


def pruner_support(help_text: str) -> tuple[list[str], bool]:
    """The pruner names ``knobs tune --help`` offers (empty: no --pruner yet), and --no-ensemble."""
    m = re.search(r"--pruner\s+\{([^}]*)\}", help_text)
    return ([p.strip() for p in m.group(1).split(",")] if m else []), "--no-ensemble" in help_text


def _when(value: Any) -> float | None:
    """An epoch time from a report's datetime (ISO text, naive = local time, as Optuna stores)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def trial_times(report: dict[str, Any], env: dict[str, str]) -> list[tuple[float, float]]:
    """(completion epoch, value) of each scored trial: the report's datetimes, else the storage."""
    out = []
    for t in report.get("trials", []):
        done = _when(t.get("completed") or t.get("datetime_complete"))
        if done is not None and t.get("value") is not None and t.get("state") == "COMPLETE":
            out.append((done, float(t["value"])))
    if out or not report.get("trials"):
        return sorted(out)
    # The report has no datetimes (yet): read them from the study's own storage.
    old = os.environ.get("KNOBS_HOME")
    os.environ["KNOBS_HOME"] = env["KNOBS_HOME"]
    try:
        from optuna.trial import TrialState

        from knobs.study import load_study

        study = load_study(report["study"], report.get("storage"))
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.datetime_complete is not None and t.value is not None:
                out.append((t.datetime_complete.timestamp(), float(t.value)))
    except Exception as exc:
        print(f"  (no trial times for {report.get('study')}: {exc})")
    finally:
        if old is None:
            os.environ.pop("KNOBS_HOME", None)
        else:
            os.environ["KNOBS_HOME"] = old
    return sorted(out)


def _better_or_equal(direction: str, value: float, goal: float) -> bool:
    return value <= goal if direction == "minimize" else value >= goal


def ensemble_gain(report: dict[str, Any]) -> float | None:
    """The final ensemble's CV gain over the best single trial, if the report says it."""
    ens = report.get("ensemble")
    if isinstance(ens, dict):
        for key in ("gain", "cv_gain"):
            if isinstance(ens.get(key), (int, float)):
                return float(ens[key])
        for key in ("cv_score", "score", "best_score"):
            if isinstance(ens.get(key), (int, float)) and report.get("best_score") is not None:
                sign = -1.0 if report.get("direction") == "minimize" else 1.0
                return sign * (float(ens[key]) - float(report["best_score"]))
    for key in ("ensemble_gain", "ensemble_cv_gain"):
        if isinstance(report.get(key), (int, float)):
            return float(report[key])
    return None


def run_pruners(
    work: Path,
    target: str,
    budget: float,
    cpus: Sequence[int],
    extra: Sequence[str],
    pruners: list[str],
) -> list[dict[str, Any]]:
    """Each pruner's time to reach the no-pruning search's best CV score, and the ensemble gain."""
    rows: list[dict[str, Any]] = []
    order = ["none"] + [p for p in pruners if p != "none"]
    goal: float | None = None
    for pruner in order:
        row: dict[str, Any] = {"pruner": pruner}
        try:
            report, wall, started, env = knobs_tune(
                work, f"pruner-{pruner}", target, budget, cpus, [*extra, "--pruner", pruner]
            )
        except Exception as exc:
            row["error"] = str(exc)
            rows.append(row)
            continue
        direction = report.get("direction", "maximize")
        if pruner == "none":
            goal = report.get("best_score")
        times = trial_times(report, env)
        reach = None
        if goal is not None:
            reach = next(
                (t - started for t, v in times if _better_or_equal(direction, v, goal)), None
            )
        counts = report.get("counts") or {}
        row.update(
            wall_s=wall,
            best_cv=report.get("best_score"),
            goal=goal,
            reach_s=reach,
            trials=report.get("n_trials"),
            pruned=counts.get("PRUNED"),
            saved_s=report.get("saved_s"),
            ensemble_gain=ensemble_gain(report),
            timed=bool(times),
        )
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- printing


def _f(x: float | None, spec: str = ".4f") -> str:
    return "n/a" if x is None else format(x, spec)


def print_table(res: TableResult) -> None:
    print(
        f"\n== {res.name}: {res.rows} rows, {res.task}, {METRIC_LABEL[res.task]} on "
        f"{res.n_test} held-out rows (trained on {res.n_train}); B = {_f(res.budget_s, '.1f')} s"
    )
    print(f"   {'system':<14} {'held-out':>9} {'wall s':>8} {'search s':>9} {'wall/B':>7}  note")
    for system in SYSTEMS:
        o = res.outcomes.get(system)
        if o is None:
            continue
        if o.error:
            print(f"   {system:<14} {'failed':>9}  {o.error[:160]}")
            continue
        ratio = o.wall_s / res.budget_s if o.wall_s and res.budget_s else None
        print(
            f"   {system:<14} {_f(o.score):>9} {_f(o.wall_s, '.1f'):>8} "
            f"{_f(o.search_s, '.1f'):>9} {_f(ratio, '.2f'):>7}  {_note(o)}"
        )
    print(f"   winner: {', '.join(res.winners()) or 'none'}")
    if res.pruners:
        print_pruners(res.pruners)


def _note(o: Outcome) -> str:
    i = o.info
    bits = []
    if "best_cv" in i and i["best_cv"] is not None:
        bits.append(f"CV {i['best_cv']:.4f}")
    for key, word in (("trials", "trials"), ("candidates", "candidates"), ("columns", "columns")):
        if i.get(key) is not None:
            bits.append(f"{i[key]} {word}")
    if i.get("renamed"):
        bits.append(f"{i['renamed']} column name(s) made LightGBM-safe")
    if i.get("best_learner"):
        bits.append(f"best {i['best_learner']}")
    if i.get("best_model"):
        bits.append(f"best {i['best_model']}")
    if o.system == "knobs" and i.get("fit_rows") is not None:
        # The delivered model: fitted on every row of the training file after Knobs' own
        # held-out split scored it (older reports: only on its training split).
        bits.append(f"final {i.get('final') or 'single'} fitted on {i['fit_rows']} rows")
    elif o.system == "knobs" and i.get("n_train_internal") is not None:
        bits.append(f"refit on {i['n_train_internal']} rows (its own 20% held out)")
    return ", ".join(bits)


def print_pruners(rows: list[dict[str, Any]]) -> None:
    print("   pruners: time from `knobs tune` start to the no-pruning search's best CV score")
    print(
        f"   {'pruner':<10} {'best CV':>8} {'reach s':>8} {'wall s':>7} {'trials':>6} "
        f"{'pruned':>6} {'saved s':>7} {'ensemble gain':>13}"
    )
    for r in rows:
        if "error" in r:
            print(f"   {r['pruner']:<10} failed: {r['error'][:160]}")
            continue
        reach = _f(r["reach_s"], ".1f") if r["timed"] else "n/a"
        if r["timed"] and r["reach_s"] is None:
            reach = "never"
        print(
            f"   {r['pruner']:<10} {_f(r['best_cv']):>8} {reach:>8} {_f(r['wall_s'], '.1f'):>7} "
            f"{r['trials'] if r['trials'] is not None else 'n/a':>6} "
            f"{r['pruned'] if r['pruned'] is not None else 'n/a':>6} "
            f"{_f(r['saved_s'], '.1f'):>7} "
            f"{_f(r['ensemble_gain'], '+.4f'):>13}"
        )


def print_summary(results: list[TableResult]) -> None:
    print("\n== summary: held-out score / whole-process wall (s); B = the Optuna loop's wall")
    head = f"{'table':<14} {'task':<10} {'B s':>7}"
    for s in SYSTEMS:
        head += f" {s:>19}"
    print(head + "  winner")
    n_at_best = n_within = 0
    for r in results:
        line = f"{r.name:<14} {r.task:<10} {_f(r.budget_s, '.1f'):>7}"
        for s in SYSTEMS:
            o = r.outcomes.get(s)
            cell = (
                "-"
                if o is None
                else "failed"
                if o.error
                else (f"{_f(o.score)} / {_f(o.wall_s, '.0f')}")
            )
            line += f" {cell:>19}"
        print(line + f"  {', '.join(r.winners()) or 'none'}")
        knobs = r.outcomes.get("knobs")
        best_peer = r.peers_best()
        if knobs and knobs.score is not None and best_peer is not None and knobs.score >= best_peer:
            n_at_best += 1
        if knobs and knobs.wall_s and r.budget_s and abs(knobs.wall_s / r.budget_s - 1) <= WITHIN:
            n_within += 1
    m = len(results)
    print(
        f"\nKnobs at or above the best peer on {n_at_best} of {m} tables; "
        f"Knobs wall within {WITHIN:.0%} of B on {n_within} of {m}"
    )


# ----------------------------------------------------------------------------- main


def split(frame: pd.DataFrame, target: str, task: str, seed: int) -> tuple[pd.DataFrame, ...]:
    from sklearn.model_selection import train_test_split

    strat = None if task == "regression" else frame[target]
    train, test = train_test_split(frame, test_size=0.2, random_state=seed, stratify=strat)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def bench_table(
    name: str,
    args: argparse.Namespace,
    cpus: Sequence[int],
    root: Path,
    systems: Sequence[str],
    pruners: list[str] | None,
) -> TableResult:
    frame, target, task = bench_tables.load(name)
    train, test = split(frame, target, task, args.seed)
    work = root / name
    work.mkdir(parents=True, exist_ok=True)
    train.to_parquet(work / "train.parquet")
    test.to_parquet(work / "test.parquet")
    train.to_csv(work / "train.csv", index=False)
    test.drop(columns=[target]).to_csv(work / "test.csv", index=False)
    y_test = test[target]
    positive = positive_class(train[target]) if task == "binary" else None
    res = TableResult(name, task, len(frame), len(train), len(test), args.budget)
    print(f"\n-- {name}: {len(frame)} rows, {task}, target `{target}`", flush=True)
    for system in systems:
        if system != "optuna_tpe" and res.budget_s is None:
            res.outcomes[system] = Outcome(system, error="no budget B (the Optuna loop failed)")
            continue
        if system == "knobs":
            o = run_knobs(work, args, target, task, res.budget_s, cpus, y_test, positive)
        else:
            o = run_peer(system, work, args, target, task, res.budget_s, cpus, y_test, positive)
        if system == "optuna_tpe" and args.budget is None and o.error is None:
            res.budget_s = float(o.info["loop_s"])
            if args.quick and res.budget_s < QUICK_MIN_BUDGET:
                print(f"   (--quick: B {res.budget_s:.1f} s raised to {QUICK_MIN_BUDGET:g} s)")
                res.budget_s = QUICK_MIN_BUDGET
        res.outcomes[system] = o
        status = o.error[:200] if o.error else f"{_f(o.score)} in {_f(o.wall_s, '.1f')} s"
        print(f"   {system:<14} {status}", flush=True)
    if pruners and res.budget_s is not None:
        res.pruners = run_pruners(
            work, target, res.budget_s, cpus, args.knobs_args.split(), pruners
        )
    print_table(res)
    return res


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/peers.py", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--tables",
        default=",".join(n for n, t in bench_tables.TABLES.items() if t.default),
        help=f"comma-separated, from: {', '.join(bench_tables.TABLES)}",
    )
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_TRIALS} Optuna trials / random draws, a 4-point grid",
    )
    p.add_argument(
        "--cores", type=int, default=2, help="CPUs every system is pinned to (default 2)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="fixed B in seconds instead of the Optuna loop's measured wall",
    )
    p.add_argument(
        "--pruners",
        action="store_true",
        help="also time each `knobs tune --pruner` to the no-pruning best CV score",
    )
    p.add_argument("--knobs-args", default="", help="extra `knobs tune` arguments, quoted")
    p.add_argument("--out", default=None, help="write every figure here as JSON")
    p.add_argument("--keep", default=None, help="folder for the splits, logs and studies (kept)")
    p.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args._child:
        job = ChildJob(**json.loads(Path(args._child).read_text()))
        result = run_child(job)
        Path(job.workdir, f"result-{job.system}.json").write_text(json.dumps(result, default=str))
        return 0
    names = [n.strip() for n in args.tables.split(",") if n.strip()]
    unknown = [n for n in names if n not in bench_tables.TABLES]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    bad = [s for s in systems if s not in SYSTEMS]
    if unknown or bad:
        print(
            f"unknown table(s) {unknown} / system(s) {bad}; tables: {', '.join(bench_tables.TABLES)};"
            f" systems: {', '.join(SYSTEMS)}",
            file=sys.stderr,
        )
        return 2
    if "optuna_tpe" not in systems and args.budget is None:
        print("without optuna_tpe there is no measured B: give --budget SECONDS", file=sys.stderr)
        return 2
    systems = [s for s in SYSTEMS if s in systems]
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cpus = allowed[: args.cores] if allowed else list(range(args.cores))
    if len(cpus) < args.cores:
        print(f"only {len(cpus)} CPU(s) available; asked for {args.cores}", file=sys.stderr)
        return 2
    pruners: list[str] | None = None
    if args.pruners:
        names_p, has_no_ens = pruner_support(knobs_help())
        if not names_p:
            print(
                "--pruners: `knobs tune --help` has no --pruner option yet; skipping the pruner "
                "timings."
            )
        else:
            pruners = names_p
            print(
                f"pruners offered by knobs tune: {', '.join(names_p)}"
                f"{'' if has_no_ens else ' (no --no-ensemble flag yet)'}"
            )
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="knobs-peers-"))
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"peer benchmark: tables {', '.join(names)}; systems {', '.join(systems)}; pinned to CPUs "
        f"{cpus} (n_jobs={len(cpus)} everywhere); seed {args.seed}"
        f"{'; QUICK budgets' if args.quick else ''}; work in {root}",
        flush=True,
    )
    results = []
    try:
        for name in names:
            results.append(bench_table(name, args, cpus, root, systems, pruners))
    finally:
        if results:
            print_summary(results)
        if args.out:
            Path(args.out).write_text(
                json.dumps([asdict(r) for r in results], indent=2, default=str)
            )
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
