"""The tables of the peer benchmark (issue 10): real ones shipped inside installed packages.

Each function returns ``(frame, target, task)`` and downloads nothing: scikit-learn's bundled
sets, ``statsmodels.datasets`` (shipped in the statsmodels wheel), Knobs' own samples, and one
generated table of 60,000 rows. The same frame goes to every system: peers get it through one
shared minimal preprocessing (``peers.peer_matrix``), FLAML as a DataFrame, Knobs as a CSV.

Edits made here apply to every system alike, and only where a user would make them before any
tool sees the table: ID columns are dropped (a near-unique ID one-hot encodes into thousands of
columns for the peers, while Knobs drops it on its own: keeping it would measure the encoders,
not the searches), rows without a target are dropped, date text is parsed into datetimes, and
numeric codes that name categories (occupations) become categories.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "knobs" / "samples"

Table = tuple[pd.DataFrame, str, str]


@dataclass(frozen=True)
class TableSpec:
    """One benchmark table: how to build it and where it comes from (for the printed list)."""

    name: str
    load: Callable[[], Table]
    source: str
    #: In a run that names no tables; a table whose Optuna loop alone takes an hour is not.
    default: bool = True


def _sklearn(loader: Callable[..., object], target: str, task: str) -> Table:
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()  # type: ignore[attr-defined]
    frame = frame.rename(columns={"target": target})
    return frame, target, task


def breast_cancer() -> Table:
    """569 tumours, 30 numeric features, malignant vs benign: the classic small binary set."""
    from sklearn.datasets import load_breast_cancer

    frame, target, task = _sklearn(load_breast_cancer, "malignant", "binary")
    frame[target] = frame[target].astype(int)
    return frame, target, task


def digits() -> Table:
    """1,797 8x8 handwritten digits, 10 classes: multiclass with many weak features."""
    from sklearn.datasets import load_digits

    frame, target, task = _sklearn(load_digits, "digit", "multiclass")
    frame[target] = frame[target].astype(int)
    return frame, target, task


def diabetes() -> Table:
    """442 patients, disease progression after a year: small, noisy regression."""
    from sklearn.datasets import load_diabetes

    return _sklearn(load_diabetes, "progression", "regression")


def fair() -> Table:
    """6,366 women (Fair's 1978 affairs survey): did she have an affair (binary)?

    The amount of time (``affairs``) becomes the yes/no target and leaves the features; the two
    occupation codes are categories (statsmodels' own examples use them as ``C(occupation)``).
    """
    import statsmodels.api as sm

    frame = sm.datasets.fair.load_pandas().data.copy()
    frame["had_affair"] = (frame.pop("affairs") > 0).map({True: "yes", False: "no"})
    for col in ("occupation", "occupation_husb"):
        frame[col] = ("occ" + frame[col].astype(int).astype(str)).astype("category")
    return frame, "had_affair", "binary"


def randhie() -> Table:
    """20,190 person-years of the RAND Health Insurance Experiment: doctor visits (regression)."""
    import statsmodels.api as sm

    frame = sm.datasets.randhie.load_pandas().data.copy()
    return frame, "mdvis", "regression"


def anes96() -> Table:
    """944 voters of the 1996 American National Election Study: party identification, 7 classes."""
    import statsmodels.api as sm

    frame = sm.datasets.anes96.load_pandas().data.copy()
    frame["PID"] = frame["PID"].astype(int)
    return frame, "PID", "multiclass"


def _churn(frame: pd.DataFrame) -> Table:
    frame = frame.drop(columns=["customer_id"])
    frame["signup_date"] = pd.to_datetime(frame["signup_date"], format="%Y-%m-%d")
    return frame, "churn", "binary"


def churn() -> Table:
    """Knobs' bundled churn sample (3,000 rows): missing values, a 30-level region, a date."""
    return _churn(pd.read_csv(SAMPLES / "churn.csv"))


def houses() -> Table:
    """Knobs' bundled houses sample (1,488 priced rows of 1,500): day-first dates, a `[` name."""
    frame = pd.read_csv(SAMPLES / "houses.csv").drop(columns=["listing_id"])
    frame = frame[frame["price"].notna()].reset_index(drop=True)
    frame["sold_date"] = pd.to_datetime(frame["sold_date"], format="%d/%m/%Y")
    return frame, "price", "regression"


def _made_churn(n: int) -> Table:
    sys.path.insert(0, str(SAMPLES))
    try:
        from make_churn import make
    finally:
        sys.path.remove(str(SAMPLES))
    return _churn(make(n=n))


def churn_60k() -> Table:
    """The churn generator of ``knobs/samples/make_churn.py`` run at 60,000 rows (seed 7)."""
    return _made_churn(60_000)


def churn_600k() -> Table:
    """The same generator at 600,000 rows: a table too large for a short budget on every row
    (Knobs then searches a sample, FLAML grows one); run it with a fixed ``--budget``."""
    return _made_churn(600_000)


SKLEARN = "scikit-learn (bundled, no download)"
STATSMODELS = "statsmodels.datasets (bundled, no download)"

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec("breast_cancer", breast_cancer, f"{SKLEARN}: load_breast_cancer"),
        TableSpec("digits", digits, f"{SKLEARN}: load_digits"),
        TableSpec("diabetes", diabetes, f"{SKLEARN}: load_diabetes"),
        TableSpec("fair", fair, f"{STATSMODELS}: fair, affairs > 0"),
        TableSpec("anes96", anes96, f"{STATSMODELS}: anes96, PID"),
        TableSpec("randhie", randhie, f"{STATSMODELS}: randhie, mdvis"),
        TableSpec("churn", churn, "knobs/samples/churn.csv"),
        TableSpec("houses", houses, "knobs/samples/houses.csv"),
        TableSpec("churn_60k", churn_60k, "generated: knobs/samples/make_churn.py make(n=60000)"),
        TableSpec("churn_600k", churn_600k, "generated: make_churn.py make(n=600000)", False),
    )
}


def load(name: str) -> Table:
    """The named table; a KeyError that lists the names when there is no such table."""
    try:
        spec = TABLES[name]
    except KeyError:
        raise KeyError(f"No benchmark table `{name}`; choose among {', '.join(TABLES)}.") from None
    return spec.load()


if __name__ == "__main__":  # python bench/tables.py: the list with sizes
    for spec in TABLES.values():
        frame, target, task = spec.load()
        print(
            f"{spec.name:<14} {len(frame):>7} rows {frame.shape[1] - 1:>3} features "
            f"{task:<11} target {target:<12} {spec.source}"
        )
