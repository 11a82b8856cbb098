"""The one verdict rule (issue 14, item 2.3): every "helps", "worse" and "within noise" agrees.

The two cases the issue reported: "helps" for +0.0004 against a noise (one standard error) of
0.0003 from 3-5 folds, and a -0.0290 loss worded "within the fold-to-fold noise". The rule lives
in ``knobs.metrics`` beside ``fold_noise``; the ensemble verdict, the search's final model (through
``noise_floor``) and the race's verdict all read it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from knobs import ensembles
from knobs import race as R
from knobs.metrics import RULE, call, margin, noise_floor


def gains_with(mean: float, se: float, k: int) -> list[float]:
    """``k`` paired per-fold gains whose mean is ``mean`` and standard error exactly ``se``."""
    z = np.linspace(-1.0, 1.0, k)
    z = z / np.std(z, ddof=1)
    return [float(v) for v in mean + se * math.sqrt(k) * z]


@pytest.mark.parametrize("k", [3, 4, 5])
def test_a_gain_of_0_0004_against_a_noise_of_0_0003_does_not_help(k: int) -> None:
    gains = gains_with(0.0004, 0.0003, k)
    se = float(np.std(gains, ddof=1) / math.sqrt(k))
    assert se == pytest.approx(0.0003)
    assert noise_floor(gains) > 0.0004  # the t margin: 4.30 x se for 3 folds, 2.78 x for 5
    helps, words = ensembles.verdict("maximize", "roc_auc", 0.8504, 0.8500, None, None, gains)
    assert not helps, words
    assert words.startswith("The ensemble does not help:")
    assert "within the fold-to-fold 95% margin" in words and f"from {k} folds" in words


def test_a_loss_beyond_the_margin_is_called_a_loss_not_noise() -> None:
    gains = gains_with(-0.0290, 0.004, 5)
    helps, words = ensembles.verdict("maximize", "r2", 0.7000, 0.7290, None, None, gains)
    assert not helps
    assert "it is worse" in words and "(-0.0290, a loss beyond" in words
    assert "within" not in words


def test_a_loss_the_folds_disagree_on_is_within_the_noise() -> None:
    gains = gains_with(-0.0290, 0.02, 5)  # margin 2.78 x 0.02 = 0.056 > 0.029
    helps, words = ensembles.verdict("maximize", "r2", 0.7000, 0.7290, None, None, gains)
    assert not helps and "within the fold-to-fold" in words and "worse" not in words


def test_a_gain_clear_of_the_margin_helps_and_the_test_split_can_overrule_it() -> None:
    gains = gains_with(0.0200, 0.002, 5)
    helps, words = ensembles.verdict("minimize", "rmse", 1.00, 1.02, 1.10, 1.12, gains)
    assert helps and words.startswith("The ensemble helps") and "beyond the fold-to-fold" in words
    helps, words = ensembles.verdict("minimize", "rmse", 1.00, 1.02, 1.15, 1.12, gains)
    assert not helps and words.startswith("Mixed")


def test_the_rule_itself() -> None:
    assert "95% margin" in RULE and "t quantile" in RULE
    assert margin(0.001, 3) == pytest.approx(4.3027 * 0.001, rel=1e-4)
    assert margin(0.001, 5) == pytest.approx(2.7764 * 0.001, rel=1e-4)
    assert margin(0.0, 5) == pytest.approx(1e-4)  # identical folds: the smallest gain that counts
    assert margin(0.001, 1) == math.inf and noise_floor([0.3]) == math.inf
    assert [call(g, 0.01) for g in (0.02, 0.01, 0.0, -0.01, -0.02)] == [
        "gain", "tie", "tie", "tie", "loss",
    ]  # fmt: skip


# --- the race follows the same rule ---------------------------------------------------------------


def _run(contestant: str, seed: int, values: list[float], fold: tuple[float, ...]) -> R.RunCurve:
    return R.RunCurve(
        contestant=contestant, seed_index=seed, study=f"{contestant}-{seed}",
        values=tuple(values), elapsed=tuple(float(i + 1) for i in range(len(values))),
        baseline=values[0], best_fold_scores=fold, test_score=values[-1], n_baseline=1,
    )  # fmt: skip


FOLDS = (0.80, 0.81, 0.82)  # one standard error 0.0058; the 95% margin from 3 folds 0.0248


def test_race_tuning_gain_inside_the_margin_is_not_worth_it() -> None:
    runs = [_run(c, i, [0.80, 0.805, 0.81], FOLDS) for c in ("random", "tpe") for i in range(3)]
    s = R.summarize(runs, "maximize", ("random", "tpe"))
    # +0.0100 is above one standard error (0.0058) but inside the margin (0.0248)
    assert "Tuning gained +0.0100 over the defaults (0.8000), within the CV noise" in s.verdict
    assert "95% margin ±0.0248 from 3 folds" in s.verdict and "not worth it" in s.verdict


def test_race_lead_inside_the_margin_is_consistent_not_real() -> None:
    seeds = range(6)  # enough seeds for a Wilcoxon test to call a consistent lead significant
    runs = [_run("tpe", i, [0.80, 0.85 + 0.001 * i], FOLDS) for i in seeds]
    runs += [_run("random", i, [0.80, 0.84 + 0.001 * i], FOLDS) for i in seeds]
    s = R.summarize(runs, "maximize", ("random", "tpe"))
    (cmp,) = s.comparisons
    assert cmp.cv.significant and cmp.cv.mean_gain == pytest.approx(0.01)
    assert "vs Random: CV +0.0100 (consistent but within the CV noise margin" in s.verdict


def test_the_final_model_choice_reads_the_same_rule() -> None:
    from knobs.ensembles import _final, _verdict

    assert _final.noise_floor is _verdict.noise_floor
