"""Turn a table and a target into a validated learning problem (:class:`Dataset`), and split it.

Everything a model later relies on is checked here, once, with a message a user can act on: the
target exists and has at least two classes of two rows, there are enough rows, at least one column
can be learned from. What was fixed silently elsewhere (dropped rows, unused columns) is said in
``Dataset.notices``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from knobs import portable
from knobs.data._ingest import RawTable
from knobs.data._profile import (
    MAX_ONEHOT,
    Analysis,
    ColumnProfile,
    analyse_table,
    check_target_name,
    many_categories_notice,
    user_names,
)
from knobs.data._target import TASKS, TargetInfo, Task, analyse_target
from knobs.errors import DataError
from knobs.formatting import plural
from knobs.portable import TableError, canonical_str, split_indices, time_order


@dataclass(frozen=True, eq=False)
class Dataset:
    """A prepared, validated learning problem; holds only cleaned features, never the raw table.

    ``eq=False``: datasets compare by identity (use ``fingerprint`` to compare content), because
    DataFrame equality is element-wise.
    """

    X: pd.DataFrame
    y: pd.Series
    task: Task
    target: str
    classes: tuple[str, ...]
    columns: tuple[ColumnProfile, ...]
    notices: tuple[str, ...]
    n_dropped_target: int
    fingerprint: str
    #: How the file was read (``RawTable.reading``); empty for a DataFrame given as is.
    reading: Mapping[str, str] = field(default_factory=dict)

    def feature_names(self) -> dict[str, str]:
        """safe_name -> the user's column name, for the features in ``X``."""
        return {c.safe_name: c.name for c in self.columns if c.used}


def infer_task(y: pd.Series) -> Task:
    """binary, multiclass or regression, from the target values as parsed.

    Numbers with at most 20 distinct integer values are classes (a 0/1 or 1..5 target); other
    numbers are a regression target; text is always classes.
    """
    return analyse_target(y).task


def prepare(table: RawTable | pd.DataFrame, target: str, *, task: Task | None = None,
            exclude: Sequence[str] = (), min_rows: int = 20, own_test: bool = False,
            by_time: str | None = None) -> Dataset:
    """Validate ``target`` and build the cleaned feature table and encoded target; ``own_test``:
    the table joins the user's own test table (notices then speak of the folds alone);
    ``by_time``: the date column the search splits by (no notice then advises a split)."""
    if isinstance(table, RawTable):
        frame, notices, reading = table.frame, list(table.notices), table.reading
    elif isinstance(table, pd.DataFrame):
        frame, notices, reading = table, [], {}
    else:
        raise TypeError(f"prepare needs a RawTable or a DataFrame, not {type(table).__name__}.")
    names = user_names(frame)
    check_target_name(target, names)
    if isinstance(exclude, str):
        exclude = (exclude,)
    for name in exclude:
        if name == target:
            raise DataError(f"`{target}` is the target and cannot also be excluded. Remove it from "
                            "the excluded columns.")
        check_column(name, names)
    if task is not None and task not in TASKS:
        raise DataError(f"Task must be one of {', '.join(TASKS)}, got {task!r}.")

    info = analyse_target(frame[target], target)
    n_dropped = int((~info.present).sum())
    if n_dropped:
        frame = frame.loc[info.present]
        marks = ", ".join(f"`{m}`" for m in info.markers)
        notices.append(
            f"Dropped {n_dropped} row{'s' * (n_dropped != 1)} whose target `{target}` is "
            + (f"missing or a placeholder ({marks}: read as no value, not as classes)."
               if marks else "missing.")
        )  # fmt: skip
        info = analyse_target(frame[target], target)
    notices.extend(_target_dates(info, target))
    chosen = _check_task(info, target, task)
    y, classes = _encode_target(info, chosen, target)
    notices.extend(_target_numbers_from_text(frame[target], info, chosen, target))
    if task is None:
        notices.extend(_numbers_as_classes(info, chosen, target))
    notices.extend(_rare_classes(y, classes))
    notices.extend(_merged_spellings(frame[target], info, target))
    notices.extend(_imbalance(y, classes, chosen))
    notices.extend(_far_out_targets(y, chosen, target))
    notices.extend(_duplicate_rows(frame))
    if len(y) < min_rows:
        raise DataError(f"Only {len(y)} rows have a value for the target `{target}`; Knobs needs "
                        f"at least {min_rows} to train and validate a model. Add more rows.")

    analyses = analyse_table(frame, target, target_info=replace(info, task=chosen))
    excluded = set(exclude)
    for a in analyses:
        if a.name in excluded:
            a.used, a.reason = False, "you excluded it"
            a.notices = []
    features = [a for a in analyses if a.used]
    if not features:
        raise DataError(_nothing_to_learn(analyses, target))
    notices.extend(_grouped_category_notices(analyses))
    if not by_time:
        notices.extend(_time_ordered(analyses, y, chosen, target, own_test=own_test))

    X = pd.DataFrame({a.safe_name: _feature_values(a) for a in features})
    X.index = pd.RangeIndex(len(X))
    y = y.reset_index(drop=True)
    y.attrs["classes"] = classes
    columns = tuple(a.profile() for a in analyses)
    return Dataset(X=X, y=y, task=chosen, target=target, classes=classes, columns=columns,
                   notices=tuple(notices), n_dropped_target=n_dropped,
                   fingerprint=fingerprint(X, y, chosen, target, classes, columns),
                   reading=reading)


def check_column(name: str, names: Sequence[str]) -> None:
    if name in names:
        return
    import difflib

    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
    raise DataError(f"There is no column `{name}` to exclude.{hint}")


#: A target of dates with more distinct ones than this is refused (a class per date teaches
#: nothing); with fewer, its dates are classes, and said.
MAX_DATE_CLASSES = 20


def _target_dates(info: TargetInfo, target: str) -> list[str]:
    """A target holding dates: refused with what to predict instead when it has many distinct
    ones, said when few (each then a class). `ship_date` was "classes with too few rows, merge
    them", and with `--task regression` "not numbers: choose a classification task"."""
    if info.numbers is not None:
        return []
    uniques = pd.Series(pd.unique(info.labels[info.present]), dtype="str")
    sample = uniques.head(200)
    formats = portable.guess_date_formats(sample)
    if not formats or portable.parse_dates_as(sample, formats).notna().mean() < 0.9:
        return []
    example = uniques.iloc[0]
    if len(uniques) > MAX_DATE_CLASSES:
        raise DataError(
            f"Target `{target}` holds dates (like `{example}`; {len(uniques):,} distinct): Knobs "
            "predicts classes or numbers, not dates. Add a column made from them, such as the "
            "days from a start date or between two dates (a number), or the month (a class), and "
            "pick that as the target."
        )
    return [f"Target `{target}` holds dates (like `{example}`): each of its {len(uniques)} dates "
            "is read as a class. To predict when, use a number made from them (days from a "
            "start date) as the target instead."]


def _check_task(info: TargetInfo, target: str, task: Task | None) -> Task:
    if task is None or task == info.task:
        chosen = info.task
    elif task == "regression":
        if info.numbers is None:
            bad = info.labels[info.present]
            examples = ", ".join(f"`{v}`" for v in pd.unique(bad)[:3])
            raise DataError(f"Target `{target}` cannot be used for regression: its values are "
                            f"not numbers ({examples}). Choose a classification task or another "
                            "target.")
        chosen = "regression"
    else:
        chosen = task
    if chosen == "regression":
        assert info.numbers is not None
        values = info.numbers[info.present]
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            raise DataError(f"Target `{target}` has {n_inf} infinite value{'s' * (n_inf > 1)} "
                            "(`inf`); a regression target must be finite. Fix or remove those "
                            "rows.")
        if values.nunique() < 2:
            raise DataError(f"Target `{target}` has the same value ({values.iloc[0]:g}) in every "
                            "row: there is nothing to predict. Choose another target.")
        return "regression"
    classes = _classes(info)
    if len(classes) < 2:
        raise DataError(f"Target `{target}` has a single class (`{classes[0]}`) in every row with "
                        "a value: there is nothing to predict. Choose another target or add rows "
                        "of other classes.")
    if chosen == "binary" and len(classes) > 2:
        instead = "regression" if info.task == "regression" else "multiclass"
        raise DataError(f"Target `{target}` has {len(classes)} classes ({_list(classes)}), so it "
                        f"cannot be binary. Choose {instead}.")
    if chosen == "multiclass" and len(classes) == 2:
        raise DataError(f"Target `{target}` has only 2 classes ({_list(classes)}): choose binary "
                        "instead of multiclass.")
    return chosen


def _list(values: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(f"`{v}`" for v in values[:limit])
    return shown + (", …" if len(values) > limit else "")


def _classes(info: TargetInfo) -> tuple[str, ...]:
    if info.classes:
        return info.classes
    # A numeric target read as classes on request: order the labels by value.
    assert info.numbers is not None
    values = np.sort(info.numbers[info.present].unique())
    return tuple(str(canonical_str(v)) for v in values)


#: Fewer rows than this in a class (the default fold count) is said before any search.
RARE_CLASS_ROWS = 5
#: Fewest rows a class may have: one for the test split, two for cross-validation.
MIN_CLASS_ROWS = 3


def _merged_spellings(raw: pd.Series, info: TargetInfo, target: str) -> list[str]:
    """Said when a class was written several ways (`yes`, ` YES`, `Yes `) and read as one:
    the merge is right for a yes/no target, and a user who meant them apart must know."""
    if info.task == "regression" or info.numbers is not None:
        return []
    written = raw[info.present].astype("str")
    spellings = written.groupby(info.labels[info.present].to_numpy()).unique()
    merged = {label: ways for label, ways in spellings.items() if len(ways) > 1}
    if not merged:
        return []
    shown = "; ".join(
        f"`{label}` from " + ", ".join(f"`{w}`" for w in sorted(ways)[:4])
        + (f" and {len(ways) - 4} more" if len(ways) > 4 else "")
        for label, ways in merged.items()
    )
    return [f"Target `{target}` writes its classes several ways, read as one class each "
            f"(case, spaces, closing punctuation and yes/no words such as 1/0 aside): {shown}."]


#: From this many columns of many categories on, they are said in one notice.
GROUP_CATEGORY_NOTICES = 3


def _grouped_category_notices(analyses: Sequence[Analysis]) -> list[str]:
    """The columns' notices, those of many categories said once when there are several: a
    300-column table printed sixteen near-identical lines, one per column. The columns are
    those flagged ``high_cardinality`` that still say :func:`many_categories_notice` (an
    excluded column says nothing), found by the flag, not by reading the words."""
    many = {id(a): said for a in analyses
            if "high_cardinality" in a.flags and (said := many_categories_notice(a)) in a.notices}  # fmt: skip
    if len(many) < GROUP_CATEGORY_NOTICES:
        return [n for a in analyses for n in a.notices]
    found = [a for a in analyses if id(a) in many]
    shown = ", ".join(f"`{a.name}` ({a.n_unique})" for a in found[:8])
    grouped = (
        f"{len(found)} columns have more than {MAX_ONEHOT} categories ({shown}"
        f"{', …' if len(found) > 8 else ''}): tree models read them target-encoded; linear and "
        "distance models too, or one-hot encoded where a category has too few rows for target "
        "encoding."
    )
    out: list[str] = []
    for a in analyses:
        for notice in a.notices:
            if notice != many.get(id(a)):
                out.append(notice)
            elif grouped not in out:  # where the first of them was said
                out.append(grouped)
    return out


#: Share of consecutive dated rows in date order above which a file is "sorted by" that date.
SORTED_SHARE = 0.95
#: |Spearman correlation| between a date column and a numeric target said to be a trend.
TREND_CORRELATION = 0.3


#: The advice that ends the time-order notice; a search that splits by time drops it.
SPLIT_BY_TIME_ADVICE = ("Split by time (`--time-column {}`, or Test split on the Search page) to "
                        "hold out the latest rows.")


def without_split_advice(notices: Sequence[str]) -> tuple[str, ...]:
    """``notices`` but the one advising a split by time, for a search that splits by time."""
    tail = SPLIT_BY_TIME_ADVICE.split("{}")[-1]
    return tuple(n for n in notices if not n.endswith(tail))


def _time_ordered(
    analyses: list[Analysis], y: pd.Series, task: Task, target: str, *, own_test: bool = False
) -> list[str]:
    """A notice when the rows follow a date column in the file's order, or a numeric target
    trends with one: a random split then scores the model on days between the days it learned
    from. Daily sales with a drift scored CV R² 0.99 and test 0.99 on a random split, and -2.28
    on the last 800 days, without a word."""
    for a in analyses:
        if a.kind != "datetime" or a.name == target:
            continue
        dates = pd.Series(a.values.to_numpy(dtype="datetime64[ns]"))
        known = dates.notna().to_numpy()
        if known.sum() < 20:
            continue
        stamps = dates[known].astype("int64").to_numpy()
        steps = np.diff(stamps)
        in_order = max((steps >= 0).mean(), (steps <= 0).mean()) >= SORTED_SHARE
        trend = 0.0
        if task == "regression":
            trend = float(pd.Series(stamps).corr(pd.Series(y.to_numpy()[known]), method="spearman"))
        drifts = abs(trend) >= TREND_CORRELATION
        if not (in_order or drifts):
            continue
        why = " and ".join(
            [*(["the rows are in the order of its dates"] if in_order else []),
             *([f"`{target}` trends with it (rank correlation {trend:+.2f})"] if drifts else [])]
        )  # fmt: skip
        if own_test:
            return [
                f"Column `{a.name}` holds dates, {why}. The folds are drawn at random, so the "
                "cross-validated score comes from dates between the dates the model learned from; "
                "your test table scores it as it will be used if it holds later dates."
            ]
        return [
            f"Column `{a.name}` holds dates, {why}. The test split and the folds are drawn at "
            "random, so the model is scored on dates between the dates it learned from: if it will "
            f"predict later dates, its scores here flatter it. {SPLIT_BY_TIME_ADVICE.format(a.name)}"
        ]
    return []


_PLAIN_NUMBER = re.compile(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?")


def _target_numbers_from_text(values: pd.Series, info: TargetInfo, task: Task,
                              target: str) -> list[str]:
    """A regression target read from text such as `$3,227.59` is said, with the number it became:
    it was read silently, and predictions came back as plain numbers."""
    if task != "regression" or info.numbers is None or pd.api.types.is_numeric_dtype(values):
        return []
    present = values[info.present]
    written = present.astype(str).str.strip()
    dressed = ~written.str.fullmatch(_PLAIN_NUMBER)
    if not dressed.any():
        return []
    example = written[dressed].iloc[0]
    number = info.numbers[info.present][dressed].iloc[0]
    return [f"Target `{target}` is written as text such as `{example}`: read as numbers "
            f"(`{example}` is {number:g}); predictions are plain numbers."]


def _numbers_as_classes(info: TargetInfo, task: Task, target: str) -> list[str]:
    """A notice when whole numbers were read as classes: a count (visits 0-7) or a 1-10 scale
    is often meant as regression, and accuracy scores a prediction one off as wrong as one far
    off; the choice was made without a word."""
    if task != "multiclass" or info.numbers is None:
        return []
    values = info.numbers[info.present]
    return [
        f"Target `{target}` holds whole numbers ({len(info.classes)} distinct values, "
        f"{values.min():g} to {values.max():g}) and is read as "
        f"{len(info.classes)} classes: a prediction one off counts as wrong as one far off. If "
        "they are counts, a scale or amounts, choose regression (`--task regression`, or Task under "
        "What to predict on the Data page)."
    ]


def _rare_classes(y: pd.Series, classes: tuple[str, ...]) -> list[str]:
    """A notice for classes too rare to learn: said on the Data page, before the search reduces
    its folds for them (a 52,000-row table's class of 3 rows only showed up as 2-fold CV and a
    failed trial once a search ran)."""
    if not classes:
        return []
    counts = np.bincount(y.to_numpy(), minlength=len(classes))
    rare = [(classes[i], int(counts[i])) for i in np.flatnonzero(counts < RARE_CLASS_ROWS)]
    if not rare:
        return []
    names = ", ".join(f"`{c}` ({n} rows)" for c, n in rare[:6]) + (", …" if len(rare) > 6 else "")
    return [
        f"Class{'es' * (len(rare) > 1)} {names} {'are' if len(rare) > 1 else 'is'} too rare to "
        "learn well, and cross-validation uses fewer folds so that every fold holds one (models "
        "that hold out a slice of their own rows may fail on it). Merge "
        f"{'them' if len(rare) > 1 else 'it'} into another class, or remove those rows, if you "
        "can."
    ]


#: A binary target whose smaller class is below this share of the rows is said to be imbalanced.
IMBALANCED_SHARE = 0.05


#: A regression target value this many interquartile ranges from the median is far out.
FAR_OUT_IQRS = 20.0


def _far_out_targets(y: pd.Series, task: str, target: str) -> list[str]:
    """A notice for regression targets far from the rest (5 prices 50 times the median): the
    fold holding them scores far lower than the others, and R² is theirs more than the table's
    (CV 0.38, test 0.01, nothing said). They may be errors, or need a metric that weighs less."""
    if task != "regression" or len(y) < 20:
        return []
    values = pd.to_numeric(y, errors="coerce").dropna()
    q1, median, q3 = values.quantile([0.25, 0.5, 0.75])
    spread = q3 - q1
    if spread <= 0:
        return []
    far = values[(values - median).abs() > FAR_OUT_IQRS * spread]
    if far.empty:
        return []
    def number(v: float) -> str:
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"

    # Each distinct value once, with its count: "-40,570, -40,570, -40,570" hid the +40,570.
    counts = far.value_counts().sort_index(key=abs, ascending=False).head(4)
    shown = ", ".join(number(v) + (f" ({n} rows)" if n > 1 else "") for v, n in counts.items())
    tamed = " (trials also learn its log, which tames a long tail)" if values.min() > 0 else ""
    return [
        f"Target `{target}` has {plural(len(far), 'value')} far from the rest (more than "
        f"{FAR_OUT_IQRS:.0f} interquartile ranges from its median {number(median)}: {shown}): "
        "the folds holding them score far lower, and R² follows them more than the other rows"
        f"{tamed}. Check they are not errors; a metric such as MAE (`--metric mae`) weighs "
        "them less."
    ]


def _imbalance(y: pd.Series, classes: tuple[str, ...], task: str) -> list[str]:
    """A notice for a binary target with a rare class (fraud at 0.76%): what the default metric
    tells and what it does not, and how predictions are thresholded. A user read accuracy-like
    figures of 0.99 as good and got no row predicted as the rare class."""
    if task != "binary" or len(classes) != 2:
        return []
    counts = np.bincount(y.to_numpy(), minlength=2)
    rare = int(np.argmin(counts))
    share = counts[rare] / max(1, counts.sum())
    if share >= IMBALANCED_SHARE or counts[rare] == 0:
        return []
    return [
        f"Class `{classes[rare]}` is {share:.2%} of the rows ({int(counts[rare]):,}): ROC AUC, "
        "the default metric, ranks well whatever the balance, but average precision "
        "(`--metric average_precision`) tells better how well the rare class is found. "
        "Predictions pick the likelier class, so few rows may be predicted as "
        f"`{classes[rare]}`: use its probability column with a threshold of your own."
    ]


def _duplicate_rows(frame: pd.DataFrame) -> list[str]:
    """A notice for rows that repeat another row in every column, target included: a copy may
    land in the test split while its twin trains, flattering the test score (a loans export
    carried 50, and nothing said so)."""
    try:
        copies = int(frame.duplicated().sum())
    except TypeError:  # a user's frame holding unhashable values (lists): not compared
        return []
    if not copies:
        return []
    return [
        f"{copies:,} row{'s' * (copies > 1)} {'are exact copies' if copies > 1 else 'is an exact copy'}"
        " of another row, target included. A copy may land in the test split, or in the fold "
        "scored, while its twin trains: that flatters the test score, and the cross-validation "
        "favours models that memorise rows (deep trees, tiny leaves). Remove the copies if they "
        "are not real repeats."
    ]


def _encode_target(info: TargetInfo, task: Task, target: str) -> tuple[pd.Series, tuple[str, ...]]:
    if task == "regression":
        assert info.numbers is not None
        return info.numbers[info.present].astype("float64").rename(target), ()
    classes = _classes(info)
    labels = info.labels[info.present].astype(str)
    lookup = {c: i for i, c in enumerate(classes)}
    codes = labels.map(lookup).astype("int64").rename(target)
    counts = np.bincount(codes.to_numpy(), minlength=len(classes))
    lonely = np.flatnonzero(counts < MIN_CLASS_ROWS)
    if len(lonely):
        # The test split takes a row of every class, and cross-validation needs two of what is
        # left: "every class needs 2 rows" was said, then a class of 2 failed as "only 1 row".
        if len(lonely) == 1:
            n = int(counts[lonely[0]])
            which = f"Class `{classes[lonely[0]]}` of target `{target}` has only {plural(n, 'row')}"
        else:
            shown = [f"{classes[i]}` ({plural(int(counts[i]), 'row')})" for i in lonely[:6]]
            which = (f"Classes `{', `'.join(shown)}{', …' if len(lonely) > 6 else ''} of "
                     f"target `{target}` have too few rows")
        raise DataError(
            f"{which}; every class needs at least {MIN_CLASS_ROWS} rows: one for the held-out "
            "test split and two for cross-validation. Add rows of "
            f"{'that class' if len(lonely) == 1 else 'those classes'}, merge "
            f"{'it' if len(lonely) == 1 else 'them'} into another class, or remove "
            f"{'its' if len(lonely) == 1 else 'their'} rows."
        )
    return codes, classes


def _feature_values(a: Analysis) -> pd.Series:
    values = a.values
    if a.kind in ("numeric", "boolean"):
        return pd.Series(values.to_numpy(dtype="float64", na_value=np.nan))
    if a.kind == "datetime":
        return pd.Series(values.to_numpy(dtype="datetime64[ns]"))
    out = values.astype(object)
    return pd.Series(out.where(out.notna(), np.nan).to_numpy(dtype=object), dtype=object)


def _nothing_to_learn(analyses: list[Analysis], target: str) -> str:
    reasons = "; ".join(f"`{a.name}` {a.reason}" for a in analyses if a.name != target)
    said = f"Not usable: {reasons}." if reasons else "The table has no other column."
    return (f"No column can be used to predict `{target}`. {said} Add columns that describe "
            "each row.")


def fingerprint(X: pd.DataFrame, y: pd.Series, task: str, target: str,
                classes: tuple[str, ...], columns: tuple[ColumnProfile, ...]) -> str:
    """sha256 of the schema and content of (X, y): same cleaned table, same fingerprint."""
    h = hashlib.sha256()
    schema = {
        "task": task, "target": target, "classes": list(classes),
        "features": [[c.safe_name, c.name, c.kind, c.dtype] for c in columns if c.used],
        "columns": list(map(str, X.columns)), "dtypes": [str(t) for t in X.dtypes],
        "rows": len(X),
    }
    h.update(json.dumps(schema, sort_keys=True).encode())
    if len(X.columns):
        h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(y, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _class_name(y: pd.Series, code: object) -> str:
    classes = y.attrs.get("classes")
    if classes and isinstance(code, int | np.integer) and 0 <= int(code) < len(classes):
        return str(classes[int(code)])
    return str(code)


def choose_folds(y: pd.Series, task: Task, requested: int) -> tuple[int, str | None]:
    """Number of cross-validation folds that every class can fill, with a notice when reduced.

    Stratified folds need a row of each class per fold: with 3 rows of a class, 5 folds would leave
    folds without it (and scikit-learn only warns), so fewer folds are used and the user told why.
    """
    if isinstance(requested, bool) or not isinstance(requested, int | np.integer) or requested < 2:
        raise DataError(f"The number of folds must be an integer of at least 2, got {requested!r}.")
    requested = int(requested)
    n = len(y)
    if task == "regression":
        if n < 2:
            raise DataError(f"Cross-validation needs at least 2 rows, got {n}.")
        if n < requested:
            return n, f"Using {n} folds instead of {requested}: there are only {n} rows."
        return requested, None
    counts = pd.Series(y).value_counts()
    if counts.empty:
        raise DataError("Cross-validation needs rows, but the target is empty.")
    smallest = int(counts.min())
    label = _class_name(y, counts.idxmin())
    if smallest < 2:
        raise DataError(f"Class `{label}` has only 1 row to cross-validate on; cross-validation "
                        "needs at least 2 rows of every class. Add rows of that class or remove "
                        "it.")
    if smallest < requested:
        return smallest, (f"Using {smallest} folds instead of {requested}: class `{label}` has "
                          f"only {smallest} rows to cross-validate on, and every fold needs one "
                          "of each class.")
    return requested, None


def train_test(
    ds: Dataset, test_size: float, seed: int, rows: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[Dataset, Dataset]:
    """Split into train and test parts; stratified, and every class present in both, or refused.

    The split is :func:`knobs.portable.split_indices`, the one train.py makes too; ``rows``
    (train, test row numbers) gives it instead, as for a test table of the user's own
    (:func:`joined_with_test`).
    """
    train_idx, test_idx = split_rows(ds, test_size, seed) if rows is None else rows
    return _subset(ds, train_idx), _subset(ds, test_idx)


def joined_with_test(
    train: RawTable | pd.DataFrame, test: RawTable | pd.DataFrame, target: str, *, test_name: str
) -> tuple[RawTable, tuple[np.ndarray, np.ndarray]]:
    """The training table and a test table of the user's own as one table (the training rows
    first), and which of its labelled rows are which: ``prepare`` then cleans both the same way,
    and the test rows score the final model instead of a share of the training table.

    The test table must have the target (with values) and every column of the training table;
    its extra columns are ignored, and said so.
    """
    frames = [t.frame if isinstance(t, RawTable) else t for t in (train, test)]
    names = [user_names(f) for f in frames]
    check_target_name(target, names[0])
    if target not in names[1]:
        raise DataError(
            f"The test table `{test_name}` has no target column `{target}`: it needs the true "
            "values to score the model. Add the column, or leave the test table out."
        )
    missing = [n for n in names[0] if n not in names[1]]
    if missing:
        raise DataError(
            f"The test table `{test_name}` lacks column(s) {', '.join(f'`{m}`' for m in missing)} "
            "of the training table. Add them (a column may be empty, but it must be there)."
        )
    notices = list(train.notices) if isinstance(train, RawTable) else []
    extra = [n for n in names[1] if n not in names[0]]
    if extra:
        notices.append(
            f"Ignored column(s) of the test table `{test_name}` that the training table lacks: "
            + ", ".join(f"`{e}`" for e in extra[:10]) + ("…" if len(extra) > 10 else "") + "."
        )
    test_frame = frames[1][names[0]]
    test_frame.columns = frames[0].columns
    try:
        labelled = [
            np.asarray(analyse_target(f[target], target).present) for f in (frames[0], test_frame)
        ]
    except (DataError, TableError):
        labelled = [np.asarray(analyse_target(frames[0][target], target).present), None]
    if labelled[1] is None or not labelled[1].any():
        raise DataError(
            f"The test table `{test_name}` has no row with a value for the target `{target}`, so "
            "it cannot score a model. Fill in the target, or leave the test table out."
        )
    joined = pd.concat([frames[0], test_frame], ignore_index=True)
    origin = np.concatenate([np.zeros(len(frames[0]), bool), np.ones(len(test_frame), bool)])
    origin = origin[np.concatenate(labelled)]  # prepare drops the rows without a target
    notices.append(
        f"The final model is scored on the test table `{test_name}` ({int(origin.sum())} "
        "labelled rows), not on a share of the training table."
    )
    table = RawTable(
        frame=joined,
        encoding=getattr(train, "encoding", "utf-8"),
        delimiter=getattr(train, "delimiter", ","),
        decimal=getattr(train, "decimal", "."),
        notices=tuple(notices),
    )
    return table, (np.flatnonzero(~origin), np.flatnonzero(origin))


def split_rows(
    ds: Dataset, test_size: float, seed: int, time_column: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The (train, test) row numbers of :func:`train_test`: a study keeps them so the final model
    can be refitted on every labelled row in the table's own order, as train.py reads it. With
    ``time_column`` the test rows are the latest by that date column (:func:`time_dates`)."""
    if not isinstance(test_size, int | float) or not 0 < test_size <= 0.5:
        raise DataError(f"The test share must be more than 0 and at most 0.5, got {test_size!r}.")
    n = len(ds.y)
    n_test = math.ceil(test_size * n)
    if ds.task == "regression" and (n_test < 1 or n - n_test < 2):
        raise DataError(f"Cannot split {n} rows with a test share of {test_size}: each part "
                        "needs rows. Add rows or change the share.")
    order = time_order(time_dates(ds, time_column)) if time_column else None
    try:
        rows = split_indices(ds.y.to_numpy(), ds.task, test_size, seed, ds.classes, order)
    except TableError as exc:
        raise DataError(str(exc)) from None
    if time_column and ds.task != "regression":
        _check_time_split_classes(ds, rows, time_column)
    return rows


def time_dates(ds: Dataset, column: str) -> pd.Series:
    """The dates of ``column``, a used date column of ``ds``, to split by time; DataError naming
    the date columns there are when it is not one."""
    profile = next((c for c in ds.columns if c.name == column), None)
    dated = [c.name for c in ds.columns if c.kind == "datetime" and c.used]
    offer = (f" Date columns of this table: {_list(dated)}." if dated
             else " This table has no column read as dates.")  # fmt: skip
    if profile is None:
        raise DataError(f"There is no column `{column}` to split by time.{offer}")
    if profile.kind != "datetime" or not profile.used:
        why = f"it is read as {profile.kind}" if profile.kind != "datetime" else profile.reason
        raise DataError(f"Column `{column}` cannot split by time: {why}.{offer}")
    return ds.X[profile.safe_name]


def _check_time_split_classes(
    ds: Dataset, rows: tuple[np.ndarray, np.ndarray], column: str
) -> None:
    """A class only the latest rows hold could never be learnt; one they lack leaves the test
    score blind to it: either is refused by name."""
    codes = ds.y.to_numpy()
    train, test = set(codes[rows[0]]), set(codes[rows[1]])
    for part, missing in (("training", set(range(len(ds.classes))) - train),
                          ("test", set(range(len(ds.classes))) - test)):  # fmt: skip
        if missing:
            names = _list([ds.classes[int(c)] for c in sorted(missing)])
            raise DataError(
                f"Split by `{column}`, the {part} rows (the "
                f"{'earlier' if part == 'training' else 'latest'} ones) hold no row of class "
                f"{names}. Use a larger test share, or the random split."
            )


def _subset(ds: Dataset, rows: np.ndarray) -> Dataset:
    X = ds.X.iloc[rows].reset_index(drop=True)
    y = ds.y.iloc[rows].reset_index(drop=True)
    y.attrs["classes"] = ds.classes
    return Dataset(X=X, y=y, task=ds.task, target=ds.target, classes=ds.classes,
                   columns=ds.columns, notices=ds.notices, n_dropped_target=ds.n_dropped_target,
                   fingerprint=fingerprint(X, y, ds.task, ds.target, ds.classes, ds.columns))
