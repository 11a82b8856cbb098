"""Generate knobs/samples/churn.csv, the bundled binary-classification sample.

A made-up telecom customer table with the defects real exports have: an ID column, missing values,
a 30-level region, "Yes"/"No" flags, a signup date, and a text target. Churn depends on the features
through interactions and thresholds, so a boosted tree reaches a ROC AUC around 0.85 while a plain
linear model does noticeably worse. Run ``python knobs/samples/make_churn.py`` to rebuild it; the
seed makes the output byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 7
N_ROWS = 3000
OUT = Path(__file__).with_name("churn.csv")

REGIONS = [
    "Northfield", "Southport", "Eastwick", "Westbury", "Lakeside", "Hillcrest", "Riverton",
    "Oakdale", "Maplewood", "Cedar Falls", "Pine Grove", "Brookhaven", "Fairview", "Greenville",
    "Ashford", "Kingsbridge", "Millbrook", "Stonebridge", "Harbor City", "Springfield",
    "Bayview", "Clearwater", "Elmstead", "Foxborough", "Glenwood", "Highgate", "Ironwood",
    "Juniper Hills", "Linden", "Meadowbrook",
]
CONTRACTS = ["Month-to-month", "One year", "Two year"]
PAYMENTS = ["Electronic check", "Mailed check", "Bank transfer", "Credit card"]
INTERNET = ["Fiber optic", "DSL", "No internet"]


def make(seed: int = SEED, n: int = N_ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region_weights = 1.0 / np.arange(1, len(REGIONS) + 1) ** 0.8
    region = rng.choice(REGIONS, n, p=region_weights / region_weights.sum())
    region_risk = dict(zip(REGIONS, rng.normal(0, 0.35, len(REGIONS)), strict=True))

    contract = rng.choice(CONTRACTS, n, p=[0.55, 0.25, 0.20])
    payment = rng.choice(PAYMENTS, n, p=[0.34, 0.22, 0.22, 0.22])
    internet = rng.choice(INTERNET, n, p=[0.44, 0.34, 0.22])
    paperless = rng.choice(["Yes", "No"], n, p=[0.6, 0.4])

    end = np.datetime64("2024-06-30")
    days_ago = rng.integers(0, 6 * 365, n)
    signup = end - days_ago.astype("timedelta64[D]")
    tenure = np.maximum(days_ago // 30, 0)

    base_charge = np.select([internet == "Fiber optic", internet == "DSL"], [75.0, 50.0], 22.0)
    monthly = np.round(base_charge + rng.normal(0, 12, n).clip(-20, 45), 2)
    total = np.round(monthly * np.maximum(tenure, 1) * rng.normal(1.0, 0.04, n), 2)
    age = rng.integers(18, 86, n).astype(float)
    calls = rng.poisson(np.where(internet == "Fiber optic", 1.8, 1.0))
    satisfaction = np.clip(np.round(rng.normal(3.6 - 0.35 * calls, 1.0)), 1, 5)

    logit = (
        -3.0
        + np.select([contract == "Month-to-month", contract == "One year"], [1.8, 0.0], -1.8)
        - 1.4 * np.log1p(tenure / 6.0) * (contract == "Month-to-month")
        + 1.8 * (tenure < 4)
        + 1.4 * (payment == "Electronic check") * (paperless == "Yes")
        + 0.09 * np.maximum(monthly - 80, 0) * (internet == "Fiber optic")
        + 1.7 * (calls >= 4)
        - 1.0 * (satisfaction - 3) * (satisfaction <= 3)
        + 2.0 * ((age < 25) | (age > 72))
        + 2.5 * np.vectorize(region_risk.get)(region)
    )
    churn = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "Yes", "No")

    frame = pd.DataFrame({
        "customer_id": [f"C{100000 + i * 7 + int(rng.integers(0, 7))}" for i in range(n)],
        "signup_date": pd.Series(signup).dt.strftime("%Y-%m-%d"),
        "tenure_months": tenure,
        "contract": contract,
        "payment_method": payment,
        "internet_service": internet,
        "paperless_billing": paperless,
        "region": region,
        "age": age,
        "monthly_charges": monthly,
        "total_charges": total,
        "support_calls": calls,
        "satisfaction": satisfaction,
        "churn": churn,
    })
    for column, share in [("monthly_charges", 0.03), ("total_charges", 0.02), ("age", 0.05),
                          ("satisfaction", 0.10), ("payment_method", 0.02)]:
        frame.loc[rng.random(n) < share, column] = np.nan
    return frame


def main() -> None:
    frame = make()
    frame.to_csv(OUT, index=False, float_format="%.10g", lineterminator="\n")
    print(f"wrote {OUT} ({len(frame)} rows, {OUT.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
