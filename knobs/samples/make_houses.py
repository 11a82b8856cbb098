"""Generate knobs/samples/houses.csv, the bundled regression sample (target ``price``).

Made-up house sales with mixed types: a listing ID, a 25-level neighbourhood, a column name XGBoost
rejects as is (``living_area [sqft]``), day-first dates, "Yes"/"No" flags, missing values, and
12 rows without a price (prepare drops them and says so). Run
``python knobs/samples/make_houses.py`` to rebuild it; the seed makes the output byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 11
N_ROWS = 1500
N_MISSING_PRICE = 12
OUT = Path(__file__).with_name("houses.csv")

NEIGHBORHOODS = [
    "Old Town", "Riverside", "Harbourfront", "University", "Market Square", "Northgate",
    "Southbank", "Eastfield", "Westend", "Parkside", "Hilltop", "Mill Lane", "Station Road",
    "Greenacres", "Brookside", "Orchard Park", "Kingsway", "Queens Park", "Abbey Fields",
    "Castle Hill", "Forest Edge", "Lakeshore", "Meadowview", "Windmill", "Canal Quarter",
]
TYPES = ["Detached", "Semi-detached", "Terraced", "Apartment"]
CONDITIONS = ["Poor", "Fair", "Good", "Excellent"]


def make(seed: int = SEED, n: int = N_ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hood = rng.choice(NEIGHBORHOODS, n)
    hood_effect = dict(zip(NEIGHBORHOODS, rng.normal(0, 0.22, len(NEIGHBORHOODS)), strict=True))
    kind = rng.choice(TYPES, n, p=[0.3, 0.25, 0.25, 0.2])
    bedrooms = np.clip(rng.poisson(np.where(kind == "Apartment", 1.6, 3.2)), 1, 6)
    area = np.round(rng.normal(420 + 380 * bedrooms, 160).clip(300, 4200))
    bathrooms = np.clip(np.round((bedrooms * 0.6 + rng.normal(0, 0.5, n)) * 2) / 2, 1, 4)
    year_built = rng.integers(1890, 2024, n)
    lot = np.where(kind == "Apartment", np.nan,
                   np.round(rng.lognormal(np.log(area * 2.2), 0.4)))
    condition = rng.choice(CONDITIONS, n, p=[0.08, 0.27, 0.45, 0.2])
    garage = np.where(rng.random(n) < np.where(kind == "Detached", 0.8, 0.3), "Yes", "No")
    sold = np.datetime64("2019-01-01") + rng.integers(0, 6 * 365, n).astype("timedelta64[D]")
    years_since_2019 = (sold - np.datetime64("2019-01-01")).astype(int) / 365.0

    log_price = (
        11.4
        + 0.75 * np.log(area)
        + np.vectorize(hood_effect.get)(hood)
        + np.select([kind == "Detached", kind == "Semi-detached", kind == "Terraced"],
                    [0.18, 0.06, 0.0], -0.08)
        + np.select([condition == "Poor", condition == "Fair", condition == "Good"],
                    [-0.25, -0.1, 0.0], 0.12)
        + 0.06 * (garage == "Yes")
        + 0.05 * np.log1p(np.nan_to_num(lot, nan=0.0) / 1000)
        - 0.0015 * np.abs(year_built - 1990) + 0.12 * (year_built > 2015)
        + 0.045 * years_since_2019
        + rng.normal(0, 0.12, n)
    ) - 5.0
    price = np.round(np.exp(log_price), -2)

    frame = pd.DataFrame({
        "listing_id": np.arange(5001, 5001 + n),
        "neighborhood": hood,
        "house_type": kind,
        "living_area [sqft]": area,
        "lot_size": lot,
        "bedrooms": bedrooms,
        "bathrooms": bathrooms,
        "year_built": year_built,
        "condition": condition,
        "garage": garage,
        "sold_date": pd.Series(sold).dt.strftime("%d/%m/%Y"),
        "price": price,
    })
    for column, share in [("living_area [sqft]", 0.03), ("year_built", 0.04),
                          ("condition", 0.05)]:
        frame.loc[rng.random(n) < share, column] = np.nan
    frame.loc[rng.choice(n, N_MISSING_PRICE, replace=False), "price"] = np.nan
    return frame


def main() -> None:
    frame = make()
    frame.to_csv(OUT, index=False, float_format="%.10g", lineterminator="\n")
    print(f"wrote {OUT} ({len(frame)} rows, {OUT.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
