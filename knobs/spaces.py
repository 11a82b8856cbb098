"""Search-space files: the Search page's space editor, as a JSON or TOML file for ``--space``.

A file names models and, under each, the parameters to change; each parameter gives only the
fields it changes, the rest keep the registry's values (its kind never changes)::

    [xgboost.max_depth]          # TOML
    low = 2
    high = 6
    grid = [2, 4, 6]

    {"logistic": {"C": {"low": 0.01, "high": 10, "log": true}}}      # JSON

The fields are the editor's columns: ``low``, ``high``, ``log``, ``choices``, ``grid``. Every
mistake is a :class:`~knobs.errors.ConfigError` naming the file, the model and the parameter.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from knobs.errors import ConfigError
from knobs.models import Param, get_model

#: What a file may set on a parameter (its kind and name come from the registry).
FIELDS = ("low", "high", "log", "choices", "grid")


def read_space_file(path: str | Path) -> dict[str, tuple[Param, ...]]:
    """The overrides a space file asks for, per model (``SearchConfig.space``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"No space file at `{path}`: give a .json or .toml file.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            raw = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            raise ConfigError(
                f"Space file `{path.name}` must end in .json or .toml (the format is read from it)."
            )
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"Space file `{path.name}` cannot be read: {exc}. Fix it there."
        ) from None
    return space_overrides(raw, where=path.name)


def space_overrides(raw: Any, *, where: str = "the space") -> dict[str, tuple[Param, ...]]:
    """``{model: {parameter: {field: value}}}`` as registry parameters with those fields changed."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{where}: expected models at the top level, like {{'xgboost': {{...}}}}."
        )
    out: dict[str, tuple[Param, ...]] = {}
    for model_name, params in raw.items():
        try:
            spec = get_model(str(model_name))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if not isinstance(params, Mapping) or not params:
            raise ConfigError(
                f"{where}: model `{model_name}` needs parameters to change, like "
                f"{{'{spec.params[0].name}': {{'low': ..., 'high': ...}}}}."
            )
        known = {p.name: p for p in spec.params}
        changed = []
        for name, fields in params.items():
            if name not in known:
                raise ConfigError(
                    f"{where}: model `{spec.name}` has no parameter `{name}`; it has "
                    f"{sorted(known)}."
                )
            changed.append(_changed(known[name], fields, f"{where}: `{spec.name}.{name}`"))
        out[spec.name] = tuple(changed)
    return out


def _changed(param: Param, fields: Any, where: str) -> Param:
    if not isinstance(fields, Mapping):
        raise ConfigError(f"{where} must be a table of fields ({', '.join(FIELDS)}).")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; a parameter takes {list(FIELDS)}.")
    values: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ("choices", "grid"):
            if not isinstance(value, list):
                raise ConfigError(f"{where}: `{key}` must be a list, got {value!r}.")
            numeric = param.kind != "categorical"
            if numeric and not all(_is_number(v) for v in value):
                raise ConfigError(f"{where}: `{key}` must hold numbers, got {value!r}.")
            values[key] = tuple(value)
        elif key == "log":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: `log` must be true or false, got {value!r}.")
            values[key] = value
        else:
            if not _is_number(value):
                raise ConfigError(f"{where}: `{key}` must be a number, got {value!r}.")
            values[key] = value
    if "grid" not in values:  # a narrowed range or fewer choices keep the grid values inside
        low, high = values.get("low", param.low), values.get("high", param.high)
        choices = values.get("choices", param.choices)
        values["grid"] = tuple(
            v for v in param.grid
            if (v in choices if param.kind == "categorical" else low <= v <= high)
        )  # fmt: skip
    try:
        return replace(param, **values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
