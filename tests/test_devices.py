"""`--device auto|cpu|cuda` (issue 13, item 5) on this CPU-only machine (xgboost-cpu)."""

from __future__ import annotations

import pytest

import knobs
from knobs.config import SearchConfig
from knobs.devices import cuda_available, device_words, resolve_device
from knobs.errors import ConfigError
from tests.conftest import make_table
from tests.test_cli import knobs_cli


def test_auto_falls_back_to_the_cpu_and_says_so() -> None:
    assert cuda_available() is False  # the default install is CPU-only
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    assert device_words("auto", "cpu") == "XGBoost on the CPU (no CUDA device seen)"


def test_cuda_where_there_is_none_is_a_clear_error_not_a_crash(tmp_path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="sees no CUDA device; install XGBoost's GPU build"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="`device` must be one of"):
        SearchConfig(target="y", device="tpu")
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="--device cuda"):
        knobs.tune(make_table("binary"), "label", models="xgboost", n_trials=2, device="cuda")


@pytest.mark.slow
def test_cli_device_cuda_exits_2_with_the_hint(tmp_path) -> None:
    csv = tmp_path / "t.csv"
    make_table("binary").to_csv(csv, index=False)
    run = knobs_cli("tune", str(csv), "--target", "label", "--models", "xgboost", "--trials", "2",
                    "--device", "cuda")  # fmt: skip
    assert run.returncode == 2 and "sees no CUDA device" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_the_report_says_where_xgboost_trained(tmp_path, monkeypatch) -> None:
    """`auto` on this CPU-only machine: each worker resolves it, records it with its trials, and
    the report says the CPU was used because no CUDA device was seen."""
    from knobs.study import load_study
    from knobs.study.keys import WORKER

    monkeypatch.setenv("KNOBS_HOME", str(tmp_path))
    result = knobs.tune(make_table("binary"), "label", models="xgboost", n_trials=2, cv=3,
                        workers=1, ensemble=False)  # fmt: skip
    assert result.to_dict()["device"] == {
        "asked": "auto", "used": ["cpu"], "words": "XGBoost on the CPU (no CUDA device seen)",
    }  # fmt: skip
    ran = [t for t in load_study(result.study).trials if t.state.is_finished()]
    assert len(ran) == 2 and {WORKER.get(t)["device"] for t in ran} == {"cpu"}


def test_a_cuda_problem_moves_xgboost_and_only_xgboost() -> None:
    """The pipeline a GPU worker builds asks XGBoost for the CUDA device; other families have no
    device to move to, and refits (no problem given) stay on the CPU."""
    from knobs.data import prepare
    from knobs.study import pipeline_for

    ds = prepare(make_table("binary"), "label")
    on_gpu = pipeline_for(ds, "xgboost", {}, device="cuda")
    assert on_gpu.named_steps["model"].get_params()["device"] == "cuda"
    assert pipeline_for(ds, "xgboost", {}).named_steps["model"].get_params()["device"] in (
        None,
        "cpu",
    )
    assert (
        "device"
        not in pipeline_for(ds, "logistic", {}, device="cuda").named_steps["model"].get_params()
    )
