"""Lazy package surfaces (PEP 562), written once for every Knobs package that has one.

``knobs --help``, a worker process and ``knobs studies`` must not pay for importing scikit-learn,
plotly and XGBoost up front, so packages re-export their public names on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` whose ``names`` map to their modules.

    A module is given relative to the package (``"_plan"``) or absolute (``"knobs.api"``); a
    module written with a trailing ``:`` (``"_stats:"``) is returned itself, not an attribute of
    it. Values are cached in ``namespace`` (the package's ``globals()``) so each is looked up
    once.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        whole = module.endswith(":")
        module = module.rstrip(":")
        full = module if module.startswith("knobs") else f"{package}.{module}"
        value = importlib.import_module(full)
        if not whole:
            value = getattr(value, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
