"""Is an earlier study's knowledge safe to reuse on a new table? Decided from stored schemas only.

Every Knobs study stores its plan: the task, the target, each column's name and kind, and the
data fingerprint. Reuse needs the same task (a regression's best settings say nothing about a
classifier's); columns are compared by name and kind, and every difference is said, never
silently ignored. A table and a study "of one family" share a *schema fingerprint*: a hash of
the task, the target and the used columns' names and kinds (the data fingerprint, by contrast,
changes with every row).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from knobs.data import ColumnProfile, Dataset
from knobs.errors import StudyError
from knobs.study import StudyPlan, list_studies, load_study, read_plan


@dataclass(frozen=True)
class Schema:
    """What reuse looks at in a table or a study: task, target, used columns -> kind."""

    task: str
    target: str
    columns: Mapping[str, str]
    fingerprint: str = ""

    @property
    def key(self) -> str:
        """The schema fingerprint: equal for tables of one family (same task, target, columns)."""
        payload = json.dumps(
            [self.task, self.target, sorted(self.columns.items())], separators=(",", ":")
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _used(columns: Iterable[ColumnProfile]) -> dict[str, str]:
    return {c.name: c.kind for c in columns if c.used and "target" not in c.flags}


def schema_of(source: StudyPlan | Dataset) -> Schema:
    """The schema of a study's plan or of a prepared table (what the Search page holds)."""
    return Schema(
        task=str(source.task),
        target=str(source.target),
        columns=_used(source.columns),
        fingerprint=str(source.fingerprint),
    )


@dataclass(frozen=True)
class Compatibility:
    """How an earlier study's schema compares with a new table's.

    ``ok`` is False when reuse makes no sense (``reason`` says why); otherwise the differences
    that still allow it are listed for the notice.
    """

    study: str
    ok: bool
    reason: str = ""
    added: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    changed: tuple[tuple[str, str, str], ...] = ()  # (column, old kind, new kind)
    target_renamed: tuple[str, str] | None = None  # (old, new)
    same_data: bool = False

    def differences(self) -> list[str]:
        """The schema differences, in words (empty when the columns match exactly)."""
        out = []
        if self.target_renamed:
            out.append(f"target was `{self.target_renamed[0]}`, now `{self.target_renamed[1]}`")
        if self.added:
            out.append("columns added since: " + ", ".join(f"`{c}`" for c in self.added))
        if self.dropped:
            out.append("columns dropped since: " + ", ".join(f"`{c}`" for c in self.dropped))
        if self.changed:
            out.append(
                "columns whose kind changed: "
                + ", ".join(f"`{c}` ({old} -> {new})" for c, old, new in self.changed)
            )
        return out


def compare(new: Schema, old: Schema, study: str) -> Compatibility:
    """Compatibility of a study (schema ``old``) with a new table (``new``)."""
    if new.task != old.task:
        return Compatibility(
            study,
            False,
            f"it learned a {old.task} task and this table is a {new.task} task; a different "
            "task's settings do not carry over",
        )
    shared = [c for c in new.columns if c in old.columns and old.columns[c] == new.columns[c]]
    if not shared:
        return Compatibility(
            study,
            False,
            f"it shares no column (by name and kind) with this table (it used "
            f"{', '.join(f'`{c}`' for c in list(old.columns)[:8]) or 'no column'})",
        )
    return Compatibility(
        study,
        True,
        added=tuple(c for c in new.columns if c not in old.columns),
        dropped=tuple(c for c in old.columns if c not in new.columns),
        changed=tuple(
            (c, old.columns[c], new.columns[c])
            for c in new.columns
            if c in old.columns and old.columns[c] != new.columns[c]
        ),
        target_renamed=(old.target, new.target) if old.target != new.target else None,
        same_data=bool(new.fingerprint) and new.fingerprint == old.fingerprint,
    )


def source_plans(names: Iterable[str], storage: str | None) -> list[tuple[str, StudyPlan, Any]]:
    """Each named earlier study's plan and study, or a ``StudyError`` naming the study and the fix."""
    known = {r["study"] for r in list_studies(storage)}
    out = []
    for name in names:
        if name not in known:
            raise StudyError(
                f"Cannot warm start from study `{name}`: there is no such study in this storage. "
                "Pick one from `knobs studies` (same `--storage`)."
            )
        study = load_study(name, storage)
        out.append((name, read_plan(study), study))
    return out


def check_sources(
    new: Schema, names: Iterable[str], storage: str | None
) -> list[tuple[str, StudyPlan, Any, Compatibility]]:
    """The earlier studies to warm start from, each checked against the new table.

    Raises ``StudyError`` for the first incompatible one, with the rule it breaks and the fix.
    """
    out = []
    for name, plan, study in source_plans(names, storage):
        compat = compare(new, schema_of(plan), name)
        if not compat.ok:
            raise StudyError(
                f"Cannot warm start from study `{name}`: {compat.reason}. Warm start only from "
                f"studies of the same task on a table with shared columns (see the compatible "
                "ones on the Search page), or start cold."
            )
        out.append((name, plan, study, compat))
    return out


def compatible_studies(
    table: StudyPlan | Dataset, storage: str | None = None, *, exclude: str | None = None
) -> list[dict[str, Any]]:
    """The stored Knobs studies a search on ``table`` may warm start from, newest first.

    Each row is ``knobs.study.list_studies``'s row plus ``differences`` (in words) and
    ``same_data`` (the very same cleaned table). Studies still running are left out: their best
    configurations are not settled yet.
    """
    new = schema_of(table)
    rows = []
    for row in list_studies(storage):
        if not row["knobs"] or row["study"] == exclude or row["running"]:
            continue
        if row["best_value"] is None:
            continue  # nothing scored: nothing to carry over
        try:
            plan = read_plan(load_study(row["study"], storage))
        except Exception:  # noqa: BLE001 - an unreadable study is simply not offered
            continue
        compat = compare(new, schema_of(plan), row["study"])
        if compat.ok:
            rows.append({**row, "differences": compat.differences(), "same_data": compat.same_data})
    return rows


def related_studies(table: StudyPlan | Dataset, storage: str | None = None) -> list[dict[str, Any]]:
    """Earlier studies on tables like this one: the same schema fingerprint (task, target, used
    columns by name and kind), newest first; ``same_data`` marks the very same cleaned table.

    What the Studies page groups by and the Search page counts ("3 earlier studies on tables
    like this one").
    """
    new = schema_of(table)
    rows = []
    for row in list_studies(storage):
        if not row["knobs"]:
            continue
        try:
            old = schema_of(read_plan(load_study(row["study"], storage)))
        except Exception:  # noqa: BLE001 - an unreadable study is simply not counted
            continue
        if old.key == new.key:
            rows.append(
                {**row, "schema_key": old.key, "same_data": old.fingerprint == new.fingerprint}
            )
    return rows


def group_by_schema(storage: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every Knobs study grouped by schema fingerprint (for the Studies page), newest first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in list_studies(storage):
        if not row["knobs"]:
            continue
        try:
            key = schema_of(read_plan(load_study(row["study"], storage))).key
        except Exception:  # noqa: BLE001 - an unreadable study is left out of the groups
            continue
        groups.setdefault(key, []).append({**row, "schema_key": key})
    return groups
