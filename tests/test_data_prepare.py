"""prepare, choose_folds, train_test and the bundled samples."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from xgboost import XGBRegressor

from knobs.data import (
    Dataset,
    choose_folds,
    prepare,
    read_table,
    sample_path,
    train_test,
)
from knobs.errors import DataError

N = 60
rng = np.random.default_rng(0)


@pytest.fixture(scope="module")
def churn() -> Dataset:
    return prepare(read_table(sample_path("churn")), "churn")


@pytest.fixture(scope="module")
def houses() -> Dataset:
    return prepare(read_table(sample_path("houses")), "price")


def frame(target: list, **extra: list) -> pd.DataFrame:
    n = len(target)
    data = {"x": rng.normal(size=n), "color": [("red", "blue", "green")[i % 3] for i in range(n)]}
    data.update(extra)
    data["y"] = target
    return pd.DataFrame(data)


def cycle(pattern: list, n: int = N) -> list:
    return [pattern[i % len(pattern)] for i in range(n)]


# --- the samples -----------------------------------------------------------------------------


def test_churn_sample(churn):
    assert sample_path().name == "churn.csv"
    assert sample_path("churn").stat().st_size < 400_000
    assert (churn.task, churn.target, churn.classes) == ("binary", "churn", ("No", "Yes"))
    assert len(churn.X) == 3000 and churn.y.dtype == "int64"
    assert 0.1 < churn.y.mean() < 0.4
    cols = {c.name: c for c in churn.columns}
    assert cols["customer_id"].kind == "id" and not cols["customer_id"].used
    assert cols["signup_date"].kind == "datetime"
    assert cols["paperless_billing"].kind == "boolean"
    assert "high_cardinality" in cols["region"].flags
    assert cols["monthly_charges"].missing_pct > 0
    assert "customer_id" not in churn.X.columns and "churn" not in churn.X.columns


def test_dataset_dtypes_follow_the_contract(churn):
    kinds = {c.safe_name: c.kind for c in churn.columns if c.used}
    expected = {
        "numeric": "float64",
        "boolean": "float64",
        "categorical": "object",
        "text": "object",
        "datetime": "datetime64[ns]",
    }
    for name, kind in kinds.items():
        assert str(churn.X[name].dtype) == expected[kind], name
    region = churn.X["region"]
    assert all(isinstance(v, str) for v in region.dropna())
    payment = churn.X["payment_method"]
    assert payment.isna().any() and all(pd.isna(v) or isinstance(v, str) for v in payment)
    assert set(churn.X["paperless_billing"].dropna()) == {0.0, 1.0}
    assert isinstance(churn.X.index, pd.RangeIndex)


def test_houses_sample_regression_and_safe_names(houses):
    assert houses.task == "regression" and houses.classes == ()
    assert houses.y.dtype == "float64"
    assert houses.n_dropped_target == 12
    assert "Dropped 12 rows whose target `price` is missing." in houses.notices
    assert len(houses.X) == 1488
    assert houses.feature_names()["living_area_sqft"] == "living_area [sqft]"
    assert set(houses.feature_names()) == set(houses.X.columns)
    cols = {c.name: c for c in houses.columns}
    assert cols["sold_date"].kind == "datetime" and cols["listing_id"].kind == "id"


def test_xgboost_accepts_the_safe_names(houses):
    numeric = [c.safe_name for c in houses.columns if c.used and c.kind == "numeric"]
    XGBRegressor(n_estimators=5).fit(houses.X[numeric], houses.y)


def test_dataset_keeps_no_raw_table(churn):
    fields = {f.name for f in dataclasses.fields(Dataset)}
    assert fields == {
        "X",
        "y",
        "task",
        "target",
        "classes",
        "columns",
        "notices",
        "n_dropped_target",
        "fingerprint",
        "reading",  # how the file was read (three words), not the table
    }
    assert "customer_id" not in churn.X.columns
    assert not churn.X.attrs


def test_fingerprint_is_stable_and_sensitive():
    a = prepare(read_table(sample_path("churn")), "churn")
    b = prepare(read_table(sample_path("churn")), "churn")
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    changed = read_table(sample_path("churn")).frame.copy()
    changed.loc[5, "age"] = 99
    assert prepare(changed, "churn").fingerprint != a.fingerprint
    assert prepare(changed, "churn", exclude=["age"]).fingerprint != a.fingerprint


# --- targets ---------------------------------------------------------------------------------


def test_number_labels_written_differently_are_one_class():
    ds = prepare(frame(cycle(["1", "1.0", 0, "0.0", 1.0])), "y")
    assert ds.classes == ("0", "1") and ds.task == "binary"
    assert ds.y.tolist()[:5] == [1, 1, 0, 0, 1]


def test_yes_no_spellings_are_one_class():
    ds = prepare(frame(cycle(["Yes", "yes", "No", " Yes", "no", "No"])), "y")
    assert ds.classes == ("No", "Yes")


def test_multiclass_numbers_sorted_by_value():
    ds = prepare(frame(cycle([10, 2, 1])), "y")
    assert ds.classes == ("1", "2", "10") and ds.task == "multiclass"


def test_task_override_regression_on_integer_target():
    ds = prepare(frame(cycle([1, 2, 3, 4, 5])), "y", task="regression")
    assert ds.task == "regression" and ds.y.dtype == "float64"


def test_missing_target_rows_dropped_and_counted():
    target = cycle(["a", "b", None, "", "nan"])
    ds = prepare(frame(target), "y")
    assert ds.n_dropped_target == 36
    assert "Dropped 36 rows whose target `y` is missing." in ds.notices
    assert len(ds.X) == len(ds.y) == 24


def test_exclude_and_notices():
    data = frame(cycle(["a", "b"]), code=[f"K{i}" for i in range(N)])
    ds = prepare(data, "y", exclude=["color"])
    cols = {c.name: c for c in ds.columns}
    assert cols["color"].reason == "you excluded it" and not cols["color"].used
    assert list(ds.X.columns) == ["x"]
    assert any("`code`" in n and "identifier" in n for n in ds.notices)


def test_leak_is_kept_and_said():
    target = cycle(["a", "b"], 400)
    data = frame(target, answer=[t.upper() for t in target])
    ds = prepare(data, "y")
    cols = {c.name: c for c in ds.columns}
    assert "possible_leak" in cols["answer"].flags and cols["answer"].used
    assert any("Possible leak: column `answer`" in n for n in ds.notices)


PREPARE_ERRORS = [
    # (case, data, keyword arguments, message)
    (
        "unknown-target",
        frame(cycle(["a", "b"])),
        {"target": "Y"},
        r"no column `Y` to use as the target\. Did you mean `y`",
    ),
    ("target-all-missing", frame([None] * N), {"target": "y"}, r"`y` is missing in every row"),
    (
        "single-class",
        frame(cycle(["a", None])),
        {"target": "y"},
        r"single class \(`a`\).*nothing to predict",
    ),
    (
        "regression-on-text",
        frame(cycle(["a", "b"])),
        {"target": "y", "task": "regression"},
        r"Target `y` cannot be used for regression: its values are not numbers \(`a`, `b`\)",
    ),
    (
        "class-with-one-row",
        frame(["rare"] + cycle(["a", "b"], N - 1)),
        {"target": "y"},
        r"Class `rare` of target `y` has only 1 row",
    ),
    (  # the test split takes one: "needs at least 2 rows" was said, then "has only 1 row"
        "classes-of-one-and-two-rows",
        frame(["r1"] + ["r2"] * 2 + cycle(["a", "b"], N - 3)),
        {"target": "y"},
        r"Classes `r1` \(1 row\), `r2` \(2 rows\) of target `y` have too few rows; every class "
        r"needs at least 3 rows: one for the held-out test split and two for cross-validation",
    ),
    (
        "no-usable-feature",
        pd.DataFrame({"id": [f"r{i}" for i in range(N)], "k": ["c"] * N, "y": cycle(["a", "b"])}),
        {"target": "y"},
        r"No column can be used to predict `y`\. Not usable: `id` it looks like an identifier.*"
        r"`k` it has the same value `c`",
    ),
    (
        "too-few-rows",
        frame(cycle(["a", "b"], 15)),
        {"target": "y"},
        r"Only 15 rows have a value for the target `y`; Knobs needs at least 20",
    ),
    (
        "too-few-after-drop",
        frame(cycle(["a", "b", None, None], 30)),
        {"target": "y"},
        r"Only 16 rows",
    ),
    (
        "min-rows-option",
        frame(cycle(["a", "b"])),
        {"target": "y", "min_rows": 100},
        r"Only 60 rows.*at least 100",
    ),
    (
        "inf-regression-target",
        frame(list(rng.normal(size=N - 3)) + [np.inf, -np.inf, np.inf]),
        {"target": "y"},
        r"Target `y` has 3 infinite values",
    ),
    (
        "constant-regression-target",
        frame([2.5] * N),
        {"target": "y", "task": "regression"},
        r"same value \(2\.5\) in every row",
    ),
    (
        "binary-with-three-classes",
        frame(cycle(["a", "b", "c"])),
        {"target": "y", "task": "binary"},
        r"has 3 classes \(`a`, `b`, `c`\), so it cannot be binary",
    ),
    (
        "multiclass-with-two",
        frame(cycle(["a", "b"])),
        {"target": "y", "task": "multiclass"},
        r"only 2 classes.*choose binary",
    ),
    (
        "bad-task",
        frame(cycle(["a", "b"])),
        {"target": "y", "task": "ranking"},
        r"Task must be one of binary, multiclass, regression, got 'ranking'",
    ),
    (
        "exclude-unknown",
        frame(cycle(["a", "b"])),
        {"target": "y", "exclude": ["colour"]},
        r"no column `colour` to exclude\. Did you mean `color`",
    ),
    (
        "exclude-target",
        frame(cycle(["a", "b"])),
        {"target": "y", "exclude": ["y"]},
        r"`y` is the target and cannot also be excluded",
    ),
    (
        "duplicate-columns",
        pd.DataFrame([[1, 2, "a"], [3, 4, "b"]] * 30, columns=["x", "x", "y"]),
        {"target": "y"},
        r"must be unique.*`x`",
    ),
]


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [c[1:] for c in PREPARE_ERRORS],
    ids=[c[0] for c in PREPARE_ERRORS],
)
def test_prepare_refuses(data, kwargs, message):
    with pytest.raises(DataError, match=message):
        prepare(data, **kwargs)


# --- folds and splits ------------------------------------------------------------------------


def test_choose_folds_keeps_the_request_when_classes_are_big_enough(churn):
    assert choose_folds(churn.y, "binary", 5) == (5, None)


def test_choose_folds_reduces_for_a_small_class():
    ds = prepare(frame(["rare"] * 3 + cycle(["a", "b"], N - 3)), "y")
    folds, notice = choose_folds(ds.y, ds.task, 5)
    assert folds == 3
    assert notice == (
        "Using 3 folds instead of 5: class `rare` has only 3 rows to cross-validate on, and every fold "
        "needs one of each class."
    )


def test_a_rare_class_is_said_once_with_the_folds_it_costs():
    """52,000 rows and a class of 3: the plan said "Using 3-fold cross-validation: 41,600
    training rows..." and then "Using 2 folds instead of 3", and the rare class itself only
    showed up once a search had run."""
    import knobs
    from knobs.config import SearchConfig

    rng = np.random.default_rng(0)
    n = 26_000  # 20,800 training rows: 3 folds by size
    data = pd.DataFrame({"x": rng.normal(size=n), "y": cycle(["a", "b"], n)})
    data.loc[:2, "y"] = "rare"
    ds = prepare(data, "y")
    assert any("Class `rare` (3 rows) is too rare to learn well" in m for m in ds.notices)
    config = SearchConfig(target="y", models=("logistic",), n_trials=2)
    plan = knobs.Search.preview(data, config).plan
    folds = [m for m in plan.notices if "fold" in m and "too rare" not in m]
    assert plan.folds == 2 and len(folds) == 1 and "2 folds instead of 3" in folds[0]


@pytest.mark.parametrize(
    ("y", "task", "requested", "message"),
    [
        (pd.Series([0, 0, 1, 1, 2]), "multiclass", 3, r"Class `2` has only 1 row"),
        (pd.Series([0, 1] * 10), "binary", 1, r"at least 2, got 1"),
        (pd.Series([0, 1] * 10), "binary", 2.5, r"integer of at least 2, got 2\.5"),
        (pd.Series([1.0]), "regression", 5, r"at least 2 rows, got 1"),
    ],
)
def test_choose_folds_refuses(y, task, requested, message):
    with pytest.raises(DataError, match=message):
        choose_folds(y, task, requested)


def test_choose_folds_regression_with_few_rows():
    assert choose_folds(pd.Series(np.arange(3.0)), "regression", 5)[0] == 3


def test_train_test_is_stratified_and_reproducible(churn):
    train, test = train_test(churn, 0.25, seed=3)
    assert len(train.X) + len(test.X) == len(churn.X)
    assert len(test.X) == 750
    assert abs(train.y.mean() - test.y.mean()) < 0.01
    again_train, _ = train_test(churn, 0.25, seed=3)
    assert again_train.fingerprint == train.fingerprint != test.fingerprint
    other, _ = train_test(churn, 0.25, seed=4)
    assert other.fingerprint != train.fingerprint
    assert train.columns == churn.columns and test.classes == churn.classes
    assert list(train.X.columns) == list(churn.X.columns)
    assert isinstance(test.X.index, pd.RangeIndex)


def test_train_test_keeps_every_class_in_both_parts():
    ds = prepare(frame(["rare"] * 3 + cycle(["a", "b"], 97)), "y")
    train, test = train_test(ds, 0.1, seed=0)
    assert set(train.y) == set(test.y) == {0, 1, 2}


def test_train_test_regression(houses):
    train, test = train_test(houses, 0.2, seed=0)
    assert len(test.X) == 298 and len(train.X) == 1190
    assert set(train.X.index) == set(range(1190))


@pytest.mark.parametrize(
    ("target", "test_size", "message"),
    [
        (cycle(["a", "b"]), 0.0, r"more than 0 and at most 0\.5, got 0\.0"),
        (cycle(["a", "b"]), 0.7, r"got 0\.7"),
        (
            cycle([f"c{i}" for i in range(20)]),
            0.1,
            r"gives 6 test rows, too few to hold each of the 20 classes",
        ),
    ],
)
def test_train_test_refuses(target, test_size, message):
    ds = prepare(frame(target), "y")
    with pytest.raises(DataError, match=message):
        train_test(ds, test_size, seed=0)


def test_unknown_sample():
    with pytest.raises(
        DataError, match=r"no sample called `iris`. Available samples: churn, houses"
    ):
        sample_path("iris")


def test_exact_duplicate_rows_are_said() -> None:
    """A loans export carried 50 rows copied in every column, target included, and nothing said
    so: a copy can land in the test split while its twin trains."""
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=40), "y": ["a", "b"] * 20})
    assert not any("exact cop" in n for n in prepare(frame, "y").notices)
    doubled = pd.concat([frame, frame.iloc[:3]], ignore_index=True)
    said = [n for n in prepare(doubled, "y").notices if "exact cop" in n]
    assert said == [
        "3 rows are exact copies of another row, target included. A copy may land in the test "
        "split, or in the fold scored, while its twin trains: that flatters the test score, and "
        "the cross-validation favours models that memorise rows (deep trees, tiny leaves). "
        "Remove the copies if they are not real repeats."
    ]


def test_a_target_writing_its_classes_several_ways_is_read_as_one_class_each_and_said() -> None:
    """A yes/no target written `yes`, ` YES`, `No `... became two classes without a word: a user
    who meant the spellings apart would never know."""
    from knobs.data import prepare

    answers = ["yes", " YES", "Yes", "no", "No ", "no"] * 20
    frame = pd.DataFrame({"x": np.arange(120) % 7, "answer": answers})
    ds = prepare(frame, "answer")
    assert ds.classes == ("no", "yes") and ds.task == "binary"
    said = [n for n in ds.notices if n.startswith("Target `answer` writes its classes several")]
    assert said and "`yes` from ` YES`, `Yes`, `yes`" in said[0] and "`no` from `No `, `no`" in said[0]
    plain = prepare(pd.DataFrame({"x": np.arange(120) % 7, "answer": ["yes", "no"] * 60}), "answer")
    assert not [n for n in plain.notices if "several ways" in n]


def test_a_binary_target_with_a_rare_class_is_said_with_what_the_metric_tells() -> None:
    """A fraud table at 0.76% positives: nothing said, ROC AUC by default, and every predicted
    row `ok`."""
    from knobs.data import prepare

    labels = np.where(np.arange(2000) % 100 == 0, "fraud", "ok")
    ds = prepare(pd.DataFrame({"x": np.arange(2000) % 13, "label": labels}), "label")
    said = [n for n in ds.notices if n.startswith("Class `fraud` is 1.00% of the rows (20)")]
    assert said and "average precision" in said[0] and "probability column" in said[0]
    even = prepare(pd.DataFrame({"x": np.arange(200) % 13, "label": ["a", "b"] * 100}), "label")
    assert not [n for n in even.notices if "of the rows" in n]


def test_regression_targets_far_from_the_rest_are_said() -> None:
    """A price table with 5 prices 50 times the median (and some negative): CV R² 0.38, test
    0.01, and nothing said."""
    from knobs.data import prepare

    price = rng.normal(400_000, 60_000, 300)
    price[:5] = [44_424_900, 32_557_400, 24_576_400, 20_000_000, 21_000_000]
    price[5:10] = -price[5:10] / 10
    ds = prepare(pd.DataFrame({"x": rng.normal(size=300), "price": price}), "price")
    said = [n for n in ds.notices if n.startswith("Target `price` has 5 values far from the rest")]
    assert said and "44,424,900" in said[0] and "--metric mae" in said[0]
    assert "learn its log" not in said[0]  # negatives: no log target
    calm = prepare(pd.DataFrame({"x": rng.normal(size=300), "y": rng.normal(size=300)}), "y")
    assert not [n for n in calm.notices if "far from the rest" in n]


def test_whole_numbers_read_as_classes_are_said_with_the_way_to_regression():
    """A count target (visits 0-7) became an 8-class task scored by accuracy, silently; most
    users with a count mean regression. Said when inferred, not when asked for or binary."""
    rng = np.random.default_rng(0)
    counts = pd.DataFrame({"x": rng.normal(size=200), "visits": rng.integers(0, 8, 200)})
    said = [n for n in prepare(counts, "visits").notices if "whole numbers" in n]
    assert said == [
        "Target `visits` holds whole numbers (8 distinct values, 0 to 7) and is read as 8 "
        "classes: a prediction one off counts as wrong as one far off. If they are counts, a "
        "scale or amounts, choose regression (`--task regression`, or Task under What to predict on "
        "the Data page)."
    ]
    assert not [n for n in prepare(counts, "visits", task="multiclass").notices
                if "whole numbers" in n]  # fmt: skip
    binary = counts.assign(visits=counts["visits"] % 2)
    words = counts.assign(visits=counts["visits"].map(lambda v: f"level {v}"))
    for quiet in (binary, words):
        assert not [n for n in prepare(quiet, "visits").notices if "whole numbers" in n]


def test_rows_in_date_order_or_a_target_trending_with_a_date_are_said():
    """Daily sales with a drift scored CV R² 0.99 and test 0.99 on a random split, and -2.28 on
    the last 800 days, without a word on the dates. Said when the rows follow a date column or
    the target trends with it; not for dates in no order with a flat target."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2020-01-01", periods=300, freq="D")
    sales = np.arange(300) * 2.0 + rng.normal(0, 5, 300)
    table = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "promo": rng.integers(0, 2, 300),
                          "sales": sales})  # fmt: skip
    said = [n for n in prepare(table, "sales").notices if "holds dates" in n]
    assert len(said) == 1 and said[0].startswith(
        "Column `date` holds dates, the rows are in the order of its dates and `sales` trends "
        "with it (rank correlation +1.00)"
    )
    assert said[0].endswith("Split by time (`--time-column date`, or Test split on the Search "
                            "page) to hold out the latest rows.")
    own = [n for n in prepare(table, "sales", own_test=True).notices if "holds dates" in n]
    assert "your test table scores it" in own[0] and "Hold out" not in own[0]
    flat = table.assign(sales=rng.normal(0, 5, 300)).sample(frac=1.0, random_state=1)
    assert not [n for n in prepare(flat, "sales").notices if "holds dates" in n]


def _dated_sales(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    days = pd.date_range("2021-01-01", periods=n, freq="D")
    order = rng.permutation(n)  # rows in no order: the split must sort them
    frame = pd.DataFrame({"day": days[order].strftime("%d/%m/%Y"), "promo": rng.integers(0, 2, n),
                          "sales": order * 1.5 + rng.normal(0, 3, n)})  # fmt: skip
    frame.loc[3, "day"] = None  # an undated row: training, never "latest"
    return frame


def test_a_split_by_time_holds_out_the_latest_rows_and_folds_by_period():
    """Daily sales with a drift: a random split scored the model between days it learned from
    (test R² 0.99; -2.40 on the last 800 days). By a date column, the test rows are the latest
    ones and the folds consecutive periods."""
    from knobs.data import split_rows, time_dates
    from knobs.portable import time_order
    from knobs.study import make_folds

    frame = _dated_sales()
    ds = prepare(frame, "sales", by_time="day")
    assert not [n for n in ds.notices if "Split by time (`--time-column" in n]
    train, test = split_rows(ds, 0.2, seed=0, time_column="day")
    dates = time_dates(ds, "day")
    assert len(test) == 40 and dates.iloc[test].min() > dates.iloc[train].max()
    assert 3 in set(train)  # the undated row
    folds = make_folds(ds.y.iloc[train], "regression", 4, 0, time_order(dates.iloc[train]))
    for fit_rows, valid in folds:
        period = dates.iloc[train].iloc[valid]
        others = dates.iloc[train].iloc[fit_rows].dropna()
        inside = others[(others > period.min()) & (others < period.max())]
        assert inside.empty  # a fold scores one period, unbroken
    with pytest.raises(DataError, match=r"Column `promo` cannot split by time: it is read as "
                       r"(numeric|boolean)\. Date columns of this table: `day`"):  # fmt: skip
        split_rows(ds, 0.2, seed=0, time_column="promo")
    with pytest.raises(DataError, match=r"There is no column `when` to split by time"):
        split_rows(ds, 0.2, seed=0, time_column="when")


def test_a_split_by_time_refuses_a_class_only_the_latest_rows_hold():
    from knobs.data import split_rows

    frame = _dated_sales().drop(columns="sales")
    days = pd.to_datetime(frame["day"], format="%d/%m/%Y")
    frame["kind"] = np.where(days > days.quantile(0.9), "new", np.where(frame["promo"] > 0, "a",
                                                                         "b"))  # fmt: skip
    ds = prepare(frame, "kind")
    with pytest.raises(DataError, match=r"the training rows \(the earlier ones\) hold no row of "
                                        r"class `new`"):
        split_rows(ds, 0.2, seed=0, time_column="day")


def test_many_columns_of_many_categories_are_said_in_one_notice():
    """A 300-column table printed sixteen near-identical "Column `cat_XX` has N categories"
    lines; from three such columns on, one notice names them all."""
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({f"cat_{i}": rng.choice([f"v{j}" for j in range(40)], 2000)
                         for i in range(5)})  # fmt: skip
    wide["y"] = rng.normal(size=2000)
    said = [n for n in prepare(wide, "y").notices if "categories" in n]
    assert said == [
        "5 columns have more than 20 categories (`cat_0` (40), `cat_1` (40), `cat_2` (40), "
        "`cat_3` (40), `cat_4` (40)): tree models read them target-encoded; linear and distance "
        "models too, or one-hot encoded where a category has too few rows for target encoding."
    ]
    two = wide[["cat_0", "cat_1", "y"]]
    assert len([n for n in prepare(two, "y").notices if "categories" in n]) == 2


def test_a_regression_target_written_as_amounts_is_said():
    """`rent` values like `$3,227.59` became numbers with no word, though every other column's
    such reading is said; numbers written plainly say nothing."""
    rng = np.random.default_rng(0)
    x = rng.uniform(500, 4000, 100).round(2)
    dressed = pd.DataFrame({"x": x, "rent": [f"${v:,.2f}" for v in x]})
    said = [n for n in prepare(dressed, "rent").notices if n.startswith("Target `rent` is written")]
    assert len(said) == 1 and "read as numbers (`$" in said[0] and "predictions are plain" in said[0]
    plain = dressed.assign(rent=x.astype(str))
    assert not [n for n in prepare(plain, "rent").notices if "is written as text" in n]


def test_columns_of_many_categories_are_found_by_their_flag_not_their_words():
    """The grouped notice found its columns by parsing their words, so a header with a line
    break (`cat\\n4`, a quoted CSV header) was left out and said on its own line, and any change
    of wording would have undone the grouping. The columns flagged ``high_cardinality`` are the
    ones grouped, whatever their names; an excluded one is not said at all."""
    rng = np.random.default_rng(0)
    names = ["cat_0", "cat `1`", "cat_2", "cat\n4"]
    wide = pd.DataFrame({n: rng.choice([f"v{j}" for j in range(40)], 2000) for n in names})
    wide["y"] = rng.normal(size=2000)
    said = [n for n in prepare(wide, "y").notices if "categories" in n]
    assert len(said) == 1 and said[0].startswith("4 columns have more than 20 categories")
    assert all(f"`{n}` (40)" in said[0] for n in names)
    kept = [n for n in prepare(wide, "y", exclude=["cat_0", "cat\n4"]).notices if "categor" in n]
    assert len(kept) == 2 and not any("cat_0" in n or "cat\n4" in n for n in kept)


def test_far_out_targets_are_each_named_once_with_their_count() -> None:
    """Five rows at -40,570 and one at +40,570 read "-40,570, -40,570, -40,570": the positive
    one was hidden behind copies of the negative."""
    from knobs.data import prepare

    profit = rng.normal(0, 50, 300)
    profit[:5] = -40_570
    profit[5] = 40_570
    ds = prepare(pd.DataFrame({"x": rng.normal(size=300), "profit": profit}), "profit")
    said = [n for n in ds.notices if "far from the rest" in n]
    assert said and "-40,570 (5 rows), 40,570)" in said[0]


def test_a_target_written_several_ways_or_with_placeholders_is_read_as_its_classes():
    """From the new-user sweep: `True`/`yes`/`1`/`False`/`no`/`0` was read as 10 classes (at
    accuracy 0.156, unsaid); yes/no with `-`, `?`, `unknown` and `N/A` as 5 classes, two of
    them "too rare"; `churned`/`Churned`/`stayed` as 3. Spellings of one class are one class,
    and stray placeholders a missing target, each said; a class named `none` stays a class."""
    x = rng.normal(size=N)
    mixed = np.array(["True", "False", "yes", "no", "1", "0", "Yes", "No"])[rng.integers(0, 8, N)]
    ds = prepare(pd.DataFrame({"x": x, "t": mixed}), "t")
    assert ds.task == "binary"
    assert {c.casefold() for c in ds.classes} in ({"no", "yes"}, {"false", "true"})  # one pair
    assert any("writes its classes several ways" in n for n in ds.notices)
    # one casing for the pair (`False` and `true` were the classes, and predict's columns)
    assert len({c[:1].isupper() for c in ds.classes}) == 1

    marked = np.where(x > 0, "yes", "no").astype(object)
    marked[:12] = ["-", "?", "unknown", "N/A"] * 3
    ds = prepare(pd.DataFrame({"x": x, "t": marked}), "t")
    assert ds.task == "binary" and ds.classes == ("no", "yes") and len(ds.y) == N - 12
    assert ("Dropped 12 rows whose target `t` is missing or a placeholder (`-`, `?`, `unknown`, "
            "`N/A`: read as no value, not as classes).") in ds.notices

    # closing punctuation: `yes.` and `No!` are yes and no (a re-check found 6 classes); A+ is A+
    punct = prepare(pd.DataFrame({"x": x, "t": cycle(["yes", "no", "yes.", "No!", "no", "yes"])}),
                    "t")  # fmt: skip
    assert punct.task == "binary" and punct.classes == ("no", "yes")
    grades = prepare(pd.DataFrame({"x": x, "t": cycle(["A+", "A", "B", "A-"])}), "t")
    assert grades.classes == ("A", "A+", "A-", "B")
    cased = prepare(pd.DataFrame({"x": x, "t": cycle(["churned", "Churned", "stayed"])}), "t")
    assert cased.task == "binary" and cased.classes == ("churned", "stayed")
    damage = prepare(pd.DataFrame({"x": x, "t": cycle(["none", "minor", "major"])}), "t")
    assert damage.classes == ("major", "minor", "none")
    # numbers beside a stray `-`: a regression target, not 300 classes
    amounts = np.round(rng.uniform(1, 100, N), 2).astype(str).astype(object)
    amounts[:5] = "-"
    assert prepare(pd.DataFrame({"x": x, "t": amounts}), "t").task == "regression"


def test_yes_no_columns_written_several_ways_are_booleans():
    """`member` holding True/False/yes/no/1/0 and blanks was read as 10 categories, and a `Y`
    at predict was "a category the model never saw"."""
    from knobs.portable import to_float

    written = ["True", "False", "yes", "no", "1", "0", "Yes", "No", None, "Y", "n"]
    ds = prepare(pd.DataFrame({"member": cycle(written), "t": rng.normal(size=N)}), "t")
    column = next(c for c in ds.columns if c.name == "member")
    assert column.kind == "boolean"
    expected = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, np.nan, 1.0, 0.0]
    np.testing.assert_array_equal(ds.X["member"].iloc[:11].to_numpy(), expected)
    np.testing.assert_array_equal(to_float(pd.Series(written), "boolean").to_numpy(), expected)


def test_a_target_of_dates_is_refused_with_what_to_predict_or_said_when_few():
    """`ship_date` as target was "classes with too few rows, merge them", and with regression
    asked "not numbers: choose a classification task"; a numeric target forced to binary was
    told to choose multiclass."""
    x = rng.normal(size=N)
    days = pd.date_range("2023-01-01", periods=N, freq="D").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"x": x, "ship_date": days})
    for task in (None, "regression"):
        with pytest.raises(DataError, match="holds dates .*not dates. Add a column made from them"):
            prepare(frame, "ship_date", task=task)
    few = pd.DataFrame({"x": x, "due": cycle(["2024-01-31", "2024-02-29", "2024-03-31"])})
    ds = prepare(few, "due")
    assert ds.task == "multiclass"
    assert any(n.startswith("Target `due` holds dates (like `2024-01-31`): each of its 3 dates")
               for n in ds.notices)  # fmt: skip
    with pytest.raises(DataError, match="cannot be binary. Choose regression"):
        prepare(pd.DataFrame({"x": x, "t": rng.normal(size=N)}), "t", task="binary")
