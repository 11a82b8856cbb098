"""Where XGBoost trains: ``--device auto|cpu|cuda``, resolved on the machine that fits the models.

The default install is CPU-only (``xgboost-cpu``). For GPUs install XGBoost's full build on the
machines that train (``pip install xgboost==<the pinned version>`` in place of ``xgboost-cpu``,
with a CUDA driver): ``auto`` then uses the GPU wherever XGBoost sees one, and says so; asking for
``cuda`` where XGBoost sees none is a :class:`~knobs.errors.ConfigError`, never a crash mid-trial.
Only XGBoost is moved: scikit-learn's models have no GPU path.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from knobs.errors import ConfigError

#: The ``--device`` choices and what each means.
DEVICES: Mapping[str, str] = {
    "auto": "a CUDA GPU where XGBoost sees one, else the CPU",
    "cpu": "the CPU",
    "cuda": "a CUDA GPU, or a clear error where there is none",
}
DEFAULT_DEVICE = "auto"
GPU_HINT = (
    "install XGBoost's GPU build on the machines that train (`pip install xgboost` instead of "
    "`xgboost-cpu`, with a CUDA driver), or use --device auto/cpu"
)


def check_device(name: str) -> str:
    if name not in DEVICES:
        raise ConfigError(f"`device` must be one of {list(DEVICES)}, but got {name!r}.")
    return name


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether XGBoost on this machine can train on a CUDA device (tried once, on two rows)."""
    import numpy as np
    import xgboost as xgb

    if not xgb.build_info().get("USE_CUDA"):
        return False
    try:
        data = xgb.DMatrix(np.zeros((2, 1)), label=np.array([0.0, 1.0]))
        xgb.train({"device": "cuda", "tree_method": "hist"}, data, num_boost_round=1)
    except xgb.core.XGBoostError:
        return False
    return True


def resolve_device(requested: str, *, where: str = "this machine") -> str:
    """``"cpu"`` or ``"cuda"``: what XGBoost uses here for ``requested``."""
    check_device(requested)
    if requested == "cpu":
        return "cpu"
    found = cuda_available()
    if requested == "cuda" and not found:
        raise ConfigError(f"--device cuda: XGBoost on {where} sees no CUDA device; {GPU_HINT}.")
    return "cuda" if found else "cpu"


def device_words(requested: str, used: str) -> str:
    """How the plan and the report say where XGBoost trained."""
    if requested == "auto":
        return (
            "XGBoost on the GPU (a CUDA device was seen)"
            if used == "cuda"
            else "XGBoost on the CPU (no CUDA device seen)"
        )
    return f"XGBoost on the {'GPU' if used == 'cuda' else 'CPU'}, as asked"
