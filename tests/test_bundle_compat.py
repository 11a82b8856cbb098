"""Bundles written by Knobs 0.1.0 still load without pickle and predict what they predicted then.

``tests/fixtures/bundles-0.1.0`` holds three bundles exported by that release (a skops pipeline
and a stacking ensemble on the churn sample, an XGBoost pipeline on the houses sample), the rows
they were scored on and what ``knobs predict`` wrote for them. Their skops files name the classes
by the paths of that release (``knobs.data._preprocess.KindCoercer``,
``knobs.ensembles.StackingEnsembleClassifier``); they must keep resolving, whatever the code's
layout, or every model a user saved stops loading.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "bundles-0.1.0"
#: bundle -> the rows it was scored on
BUNDLES = {"skops": "churn-rows.csv", "ensemble": "churn-rows.csv", "xgboost": "houses-rows.csv"}

CHILD = r"""
import json, pickle, sys

def forbid_pickle(event, args):
    if event == "pickle.find_class":
        raise RuntimeError(f"pickle is forbidden here: {args}")

sys.addaudithook(forbid_pickle)
from knobs.predict import predict_table, write_predictions

for job in json.load(open(sys.argv[1])):
    write_predictions(predict_table(job["bundle"], job["rows"]), job["out"])
try:  # the hook must bite, or this test proves nothing
    pickle.loads(pickle.dumps(Exception))
    print("HOOK-DID-NOT-FIRE")
except RuntimeError:
    print("HOOK-OK")
"""


@pytest.fixture(scope="module")
def predicted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fixture bundle scored in one fresh process whose audit hook forbids unpickling."""
    out = tmp_path_factory.mktemp("compat")
    jobs = [
        {"bundle": str(FIXTURES / f"{name}.zip"), "rows": str(FIXTURES / rows),
         "out": str(out / f"{name}-predictions.csv")}
        for name, rows in BUNDLES.items()
    ]  # fmt: skip
    (out / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(out / "jobs.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HOOK-OK" in proc.stdout
    return out


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BUNDLES))
def test_old_bundle_predicts_exactly_what_it_did(predicted: Path, name: str) -> None:
    want = _read(FIXTURES / f"{name}-predictions.csv")
    got = _read(predicted / f"{name}-predictions.csv")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    # and byte for byte, as `knobs predict` wrote it then
    assert (predicted / f"{name}-predictions.csv").read_bytes() == (
        FIXTURES / f"{name}-predictions.csv"
    ).read_bytes()


def _recorded_types() -> set[str]:
    types: set[str] = set()
    for name in BUNDLES:
        with zipfile.ZipFile(FIXTURES / f"{name}.zip") as zf:
            types |= set(json.loads(zf.read("card.json"))["trusted_types"])
    return types


@pytest.mark.parametrize("recorded", sorted(t for t in _recorded_types() if t.startswith("knobs.")))
def test_old_type_paths_resolve_to_the_classes_knobs_uses(recorded: str) -> None:
    """skops builds a recorded type by importing its module and taking the name: the old path
    must still give the very class Knobs fits today, not a look-alike."""
    from skops.io._utils import gettype

    import knobs.portable

    module, _, name = recorded.rpartition(".")
    assert gettype(module, name) is getattr(knobs.portable, name)
