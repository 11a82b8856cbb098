"""``knobs predict``: score a new table with an exported bundle, never unpickling anything.

The new table is read with the same reader as training data, then checked against the card's
input schema before the model sees it:

- a missing column is an error naming it (a model cannot guess a whole column);
- a column where no value can be read as its kind (text in a numeric column) is an error;
  when only some values cannot be read, they become missing (the pipeline imputes missing values
  as it did in training) and a warning counts them;
- an unknown category is a warning, not an error: the one-hot encoder was fitted with
  ``handle_unknown="ignore"`` (all zeros) and the target encoder maps it to the overall mean, so
  the model still predicts; the warning says which values were unseen so the user can judge;
- extra columns are ignored, with a note.

Predictions come back with the original class labels, plus one probability column per class
for classifiers that have probabilities, after the rows' ID column so they can be joined back:
the one named (``id_column``), else the ID-like column the training profile left out (recorded
on the card) when the new table has it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from knobs import portable
from knobs.data import read_table
from knobs.errors import DataError
from knobs.export import LoadedModel, load_bundle

PREDICTION = "prediction"
PROBA_PREFIX = "probability_"


@dataclass(frozen=True)
class Prediction:
    frame: pd.DataFrame
    warnings: tuple[str, ...]

    @property
    def key(self) -> str | None:
        """The ID column kept as the rows' key (it comes first), when there is one."""
        first = str(self.frame.columns[0])
        return None if first == PREDICTION else first


def _examples(values: pd.Series, limit: int = 3) -> str:
    return ", ".join(f"`{v}`" for v in pd.unique(values.astype(str))[:limit])


def _named(names: Sequence[str], limit: int = 12) -> str:
    """Column names for an error line: an 800-column model's names made one line of 800."""
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def check_schema(frame: pd.DataFrame, card: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """The table under the model's safe column names, and the warnings; DataError when unusable."""
    schema = card["schema"]
    frame, warnings = _matched_loosely(frame, [c["name"] for c in schema])
    names = [str(c) for c in frame.columns]
    missing = [c["name"] for c in schema if c["name"] not in names]
    if missing:
        raise DataError(
            f"The table lacks column(s) {_named(missing)} that the model uses (it was trained on "
            f"{_named([c['name'] for c in schema])}). Add them; a column may be empty, but it "
            "must be there."
        )
    # the ID column is kept as the rows' key, not "ignored" (both were said of `column_1`)
    keys = set(card.get("id_columns", ()))
    extra = [n for n in names
             if n not in {c["name"] for c in schema} and n != card["target"] and n not in keys]
    if extra:
        warnings.append(
            f"Ignored column(s) the model does not use: {', '.join(extra[:10])}"
            + (" …" if len(extra) > 10 else "")
            + "."
        )
    # Columns gathered, then joined once: inserted one by one, a wide table's 800 columns made
    # pandas warn of a fragmented frame 700 times on stderr (235 KB for 8 rows).
    X: dict[str, pd.Series] = {}
    for col in schema:
        s = frame[col["name"]]
        kind = col["kind"]
        present = portable.as_strings(s).notna() if s.dtype == object else s.notna()
        if len(s) > 1 and not present.any():
            warnings.append(
                f"Column `{col['name']}` is empty in every row: the model reads it as missing "
                "throughout, which it rarely saw in training. Fill it in if you have it."
            )
        if kind in ("numeric", "boolean"):
            parsed = portable.to_float(s, kind)
            bad = present & parsed.isna()
            _check_unreadable(col["name"], kind, s, bad, present, warnings)
            if col.get("range"):
                _check_range(col["name"], s, parsed, col["range"], warnings)
        elif kind == "datetime":
            # Read with the formats of the training table (a card without them guesses): a
            # batch whose days are all 12 or less would otherwise read a day-first column
            # month-first. The model gets the dates themselves, as it did in training.
            parsed = portable.to_datetime(s, col.get("formats"))
            bad = present & parsed.isna()
            _check_unreadable(col["name"], kind, s, bad, present, warnings)
            s = parsed
        elif kind == "categorical" and "categories" in col and not col.get("categories_truncated"):
            values = portable.to_category(s)
            unseen = values.notna() & ~values.isin(set(col["categories"]))
            if unseen.any():
                warnings.append(
                    f"Column `{col['name']}`: {int(unseen.sum())} row(s) have categories the "
                    f"model never saw ({_examples(values[unseen])}); the encoder treats them as "
                    "'none of the known categories'. Check the spelling if that is unexpected."
                )
        X[col["safe_name"]] = s
    return pd.DataFrame(X, index=frame.index).reset_index(drop=True), warnings


def _loose(name: str) -> str:
    return " ".join(name.split()).casefold()


def _matched_loosely(frame: pd.DataFrame, needed: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with a needed column it spells in another case or spacing (`X` for `x`,
    `Unit price` for `unit  price`) under the model's name, said; only where exactly one of its
    columns matches and that column is not itself a name the model uses. A file exported by
    another tool was refused for lacking `x` beside its `X`."""
    names = [str(c) for c in frame.columns]
    used = set(needed)
    renames: dict[str, str] = {}
    for want in needed:
        if want in names:
            continue
        found = [n for n in names if _loose(n) == _loose(want) and n not in used]
        if len(found) == 1 and found[0] not in renames:
            renames[found[0]] = want
    if not renames:
        return frame, []
    pairs = ", ".join(f"`{have}` as `{want}`" for have, want in renames.items())
    return frame.rename(columns=renames), [
        f"Read column(s) {pairs}: the names differ from the model's only in case or spaces."
    ]


#: A value counts as far outside what the model saw beyond this many times the training range's
#: scale past either end (its width, or its largest magnitude if larger): a drift stays quiet, a
#: change of units does not.
FAR_OUTSIDE = 1.0


def _check_range(
    name: str, s: pd.Series, parsed: pd.Series, seen: Sequence[float], warnings: list[str]
) -> None:
    """Warn of values far outside the range the model was fitted on. Training read `-17.9%` as
    -0.179; a batch written `-17.9` was read as -17.9, and the predictions went from 2.25 to
    -86.5 without a word (models extrapolate flat or wildly, never sensibly, that far out)."""
    lo, hi = float(seen[0]), float(seen[1])
    width = max(hi - lo, abs(hi), abs(lo), 1e-12)
    far = (parsed < lo - FAR_OUTSIDE * width) | (parsed > hi + FAR_OUTSIDE * width)
    if not far.any():
        return
    warnings.append(
        f"Column `{name}`: {int(far.sum())} value(s) lie far outside the {lo:.4g} to {hi:.4g} the "
        f"model was fitted on ({_examples(s[far])}); its predictions for those rows are guesses. "
        "Check the units: a column written as percentages in training (45%) is read as shares "
        "(0.45)."
    )


def _check_unreadable(
    name: str, kind: str, s: pd.Series, bad: pd.Series, present: pd.Series, warnings: list[str]
) -> None:
    """Warn of the values of ``s`` that cannot be read as ``kind`` (``bad``), or refuse a column
    none of whose values can. Placeholders (`-`, `?`, `N/A`) are missing values, as training read
    them, and said nowhere: every batch warned "cannot be read as numbers (`-`, `?`, `none`)"
    for a column whose training had read them as missing. Infinite values have words of their
    own ("`inf` cannot be read as numbers" read as a parsing failure)."""
    if not bad.any():
        return
    text = s.astype("str").str.strip()
    quiet = bad & pd.Series(portable.placeholder_mask(text), index=s.index)
    infinite = bad & text.str.fullmatch(r"[-+]?(inf|infinity)", case=False).fillna(False)
    rest = bad & ~quiet & ~infinite
    what = {"numeric": "numbers", "boolean": "yes/no values", "datetime": "dates"}[kind]
    if (kind == "numeric" and not pd.api.types.is_numeric_dtype(s.dtype)
            and portable.clock_hours(s[present]).notna().any()):  # fmt: skip
        what = "times of day"  # a column of times read as hours: `25:70` is no time, not "no number"
    if rest.any() and int(rest.sum()) == int((present & ~quiet & ~infinite).sum()):
        raise DataError(
            f"Column `{name}` should hold {what} (it was {kind} in training), but none of its "
            f"values can be read as such ({_examples(s[rest])}). Fix the column or check that "
            "this is the right file."
        )
    if infinite.any():
        warnings.append(
            f"Column `{name}`: {int(infinite.sum())} value(s) are infinite "
            f"({_examples(s[infinite])}) and are treated as missing, as in training."
        )
    if rest.any():
        warnings.append(
            f"Column `{name}`: {int(rest.sum())} value(s) cannot be read as {what} "
            f"({_examples(s[rest])}) and are treated as missing."
        )


#: ``id_column`` value: the ID-like column recorded at training, if the table has it.
DETECTED = "detected"


def id_column_for(
    card: Mapping[str, Any], frame: pd.DataFrame, id_column: str | None = DETECTED
) -> str | None:
    """The column whose values label the prediction rows; ``None`` keeps none.

    ``DETECTED`` takes the first ID-like column the training profile flagged (``card["id_columns"]``;
    cards written before it had none) that ``frame`` has. A named column must exist.
    """
    names = [str(c) for c in frame.columns]
    if id_column is None:
        return None
    taken = (PREDICTION, PROBA_PREFIX)  # the output's own columns
    if id_column == DETECTED:
        found = [c for c in card.get("id_columns", ()) if c in names]
        return next((c for c in found if not c.startswith(taken)), None)
    if id_column.startswith(taken):
        raise DataError(
            f"The ID column `{id_column}` would clash with the predictions' own columns "
            f"(`{PREDICTION}`, `{PROBA_PREFIX}…`); rename it in the table first."
        )
    if id_column not in names:
        raise DataError(
            f"There is no ID column `{id_column}` to keep in the predictions; the table has "
            f"{', '.join(f'`{n}`' for n in names[:12])}{' …' if len(names) > 12 else ''}. "
            "Name one of them with --id, or leave --id out."
        )
    return id_column


def predict_frame(
    model: LoadedModel, frame: pd.DataFrame, *, id_column: str | None = DETECTED
) -> Prediction:
    """Check ``frame`` (user column names) and predict; labels and probabilities as columns,
    after the ID column (:func:`id_column_for`) when there is one."""
    X, warnings = check_schema(frame, model.card)
    if len(X) == 0:
        raise DataError("The table has no rows to predict.")
    key = id_column_for(model.card, frame, id_column)
    pred, proba = model.predict_safe(X)
    out = pd.DataFrame(index=pd.RangeIndex(len(X)))
    if key is not None:
        out[key] = frame[key].to_numpy()
    if model.task == "regression":
        out[PREDICTION] = pred.astype(np.float64)
    else:
        classes = np.asarray(model.classes, dtype=object)
        out[PREDICTION] = classes[pred.astype(np.int64)]
        if proba is not None:
            for i, c in enumerate(model.classes):
                out[f"{PROBA_PREFIX}{c}"] = proba[:, i]
    return Prediction(frame=out, warnings=tuple(warnings))


def predict_table(
    model: str | Path | LoadedModel,
    data: str | Path | bytes | BinaryIO,
    *,
    name: str = "data",
    id_column: str | None = DETECTED,
) -> Prediction:
    """Load the bundle (unless given), read the table and predict: the CLI and the page path."""
    loaded = model if isinstance(model, LoadedModel) else load_bundle(model)
    table = read_table(data, name=name, min_rows=1)
    return predict_frame(loaded, table.frame, id_column=id_column)


def write_predictions(prediction: Prediction, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    prediction.frame.to_csv(out, index=False)
    return out
