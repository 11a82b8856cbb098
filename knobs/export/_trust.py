"""skops files with an exact allow-list: what a file may need, recorded at export, audited on load.

skops stores a model as a zip of JSON and arrays; loading it only builds types it is told to
trust. The exact list of non-default types a file needs is recorded at export time (in the card)
and audited on every load: a file needing anything else is refused, naming the type. On top of
that list, every recorded type must come from a library we ship models with, or be one of Knobs'
portable classes (``knobs.portable``), so editing the card beside a tampered file does not widen
the trust either.

Models saved by Knobs 0.1.0 name Knobs' classes by the paths of that release
(``knobs.data._preprocess.KindCoercer``, ``knobs.ensembles.StackingEnsembleClassifier``). Those
modules keep re-exporting the portable classes, so skops, which builds a recorded type by importing
its module and taking the name, gets the very same class; the card's list and the file stay as
they were written (a bundle's files are hashed in its card), and only these exact names are
accepted besides the library prefixes: ``LEGACY_TYPES``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from knobs.errors import ExportError, UntrustedModelError

#: Where the types an exported skops file may need (beyond skops' defaults) come from.
TRUSTED_MODULES: tuple[str, ...] = ("sklearn.", "numpy.", "scipy.", "xgboost.", "knobs.portable.")
#: Knobs 0.1.0's paths of its classes (still importable: they re-export ``knobs.portable``).
LEGACY_TYPES: frozenset[str] = frozenset(
    {
        *(f"knobs.data._preprocess.{name}"
          for name in ("KindCoercer", "DateParts", "TextTfidf", "TargetEncoding")),
        *(f"knobs.ensembles.{kind}Ensemble{role}"
          for kind in ("Greedy", "Stacking") for role in ("Classifier", "Regressor")),
    }
)  # fmt: skip


def check_types(types: Sequence[str], path: Path) -> None:
    """Refuse a list that names a type from outside the trusted libraries and Knobs' classes."""
    bad = [t for t in types if not (t.startswith(TRUSTED_MODULES) or t in LEGACY_TYPES)]
    if bad:
        raise UntrustedModelError(
            f"`{path.name}` needs type(s) {', '.join(f'`{t}`' for t in bad)}, which come from "
            f"outside the libraries Knobs trusts ({', '.join(m.rstrip('.') for m in TRUSTED_MODULES)})."
            " Such a file is refused: export a model built only from those libraries."
        )


def dump_skops(estimator: Any, path: Path) -> list[str]:
    """Write ``estimator`` with skops; return the exact non-default types the file needs."""
    import skops.io as sio

    # schema.json (the object graph as JSON) dominates and compresses ~10x.
    sio.dump(estimator, path, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    types = sorted(sio.get_untrusted_types(file=path))
    check_types(types, path)
    return types


def load_skops(path: Path, trusted: Sequence[str]) -> Any:
    """Load a skops file trusting exactly ``trusted``; anything else in the file is refused."""
    import skops.io as sio

    trusted = list(trusted)
    check_types(trusted, path)
    try:
        needed = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a corrupt zip or JSON: say which file
        raise ExportError(
            f"`{path.name}` is not a readable skops file ({type(exc).__name__}: {exc}). "
            "Export the model again."
        ) from None
    unknown = sorted(set(needed) - set(trusted))
    if unknown:
        raise UntrustedModelError(
            f"`{path.name}` holds type(s) not in the trusted list recorded in its card: "
            f"{', '.join(f'`{t}`' for t in unknown)}. The file was changed or does not belong "
            "to this card; it is not loaded. Export the model again from Knobs."
        )
    return sio.load(path, trusted=trusted)
