"""The Ensemble page's session keys and panels (layout only; the work is ``knobs.ensembles``).

Keys live here rather than in ``components/state.py`` because only this page uses them. The pool
of candidates (with their out-of-fold arrays, small) and the last built report (a plain dict, no
fitted model) are kept per tab; what must survive a reload, a kept ensemble, is in the study.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from knobs import ensembles
from knobs import visualization as V
from knobs.formatting import fmt_gain
from knobs.metrics import direction, metric_label

from .charts import fmt_score

# Non-widget keys.
_POOL = "knobs.ensemble.pool"
_REPORT = "knobs.ensemble.report"
_KEPT = "knobs.ensemble.kept"

# Widget keys (tests address widgets by these).
W_STUDIES = "ensemble.studies"
W_TOP = "ensemble.top"
W_DIVERSE = "ensemble.diverse"
W_KIND = "ensemble.kind"
W_VOTING = "ensemble.voting"
W_WEIGHTS = "ensemble.weights"
W_META = "ensemble.meta"
W_PASSTHROUGH = "ensemble.passthrough"
W_N_ITER = "ensemble.n_iter"
W_BUILD = "ensemble.build"
W_KEEP = "ensemble.keep"

#: The diversity toggle's label: the verdict's advice names the control by it, not by the API's
#: ``diverse``.
DIVERSE_LABEL = "Prefer diversity"

KIND_LABELS = {
    "voting": "Voting (weighted average)",
    "stacking": "Stacking (meta-learner)",
    "greedy": "Greedy selection (Caruana)",
}


def _ss() -> Any:
    return st.session_state


def pool(studies: Sequence[str], top: int, diverse: bool, version: Any) -> ensembles.Pool:
    """The candidates for these choices, loaded once per tab until the studies change
    (``version``: their trial counts). Raises the core's ``StudyError`` for mixed tables."""
    key = (tuple(studies), top, diverse, version)
    cached = _ss().get(_POOL)
    if cached is not None and cached[0] == key:
        return cached[1]
    found = ensembles.candidates(list(studies), top, diverse=diverse)
    _ss()[_POOL] = (key, found)
    return found


def report() -> dict[str, Any] | None:
    return _ss().get(_REPORT)


def set_report(data: dict[str, Any] | None) -> None:
    _ss()[_REPORT] = data
    _ss().pop(_KEPT, None)


def kept() -> str | None:
    """The id of the report on screen once it was kept (None before)."""
    return _ss().get(_KEPT)


def set_kept(ensemble_id: str) -> None:
    _ss()[_KEPT] = ensemble_id


def candidates_panel(found: ensembles.Pool) -> None:
    frame = found.frame()
    st.dataframe(
        frame.drop(columns=["study"] if len(found.studies) == 1 else []),
        hide_index=True,
        column_config={
            "cv_score": st.column_config.NumberColumn(
                f"CV {metric_label(found.metric.name)}", format="%.4f"
            ),
            "oof": st.column_config.TextColumn(
                "out-of-fold", help="stored with the trial, or recomputed on the same folds"
            ),
        },
    )
    for note in found.notes:
        st.caption(note)
    if len(found.candidates) > 1:
        st.plotly_chart(
            V.correlation_figure(ensembles.correlation(found)),
            key="ensemble.heatmap",
            config={"displaylogo": False},
        )
        st.caption(
            "Members that err differently (low correlation) have the most to give each other; "
            "near-1 pairs are almost copies."
        )


def advice(data: dict[str, Any]) -> str:
    """The core's verdict, with the diversity control named as the page labels it."""
    return str(data["verdict"]).replace("`diverse`", f"**{DIVERSE_LABEL}**")


def single_name(data: dict[str, Any]) -> str:
    """The best single candidate as the comparison chart names it (``xgboost #147``)."""
    best = data["best_single"]
    where = f" of `{best['study']}`" if len(data.get("studies", ())) > 1 else ""
    return f"{best['model']} #{best['trial']}{where}"


def which_single(data: dict[str, Any], delivered: dict[str, Any] | None = None) -> str:
    """Which single model the verdict compares with, and whether the search delivers that one.

    "Best single test 0.8269" (xgboost #147, the best candidate by CV) sat beside a study that
    delivers logistic #19 (test 0.8139), and "Keep the single model" named neither.
    ``delivered`` is the study's ``keys.TEST_SCORE`` (the best single's study).
    """
    test = data.get("best_single_test_score")
    words = (
        f"The single model compared is **{single_name(data)}**, the candidate with the best CV "
        "score" + (f" (test {fmt_score(test)})." if test is not None else ".")
    )
    if not delivered:
        return words
    score = fmt_score(delivered.get("value"))
    chosen = delivered.get("chosen") or {}
    if (delivered.get("final") or {}).get("kind") == "ensemble":
        return f"{words} The search delivers its own final ensemble (test {score})."
    if delivered.get("trial") == data["best_single"]["trial"]:
        return f"{words} It is also the model the search delivers."
    if chosen.get("why"):
        return f"{words} The search delivers another single model: {chosen['why']} (test {score})."
    trial = delivered.get("trial")
    return f"{words} The search delivers another single model: trial {trial} (test {score})."


def report_panel(data: dict[str, Any], delivered: dict[str, Any] | None = None) -> None:
    """The built ensemble beside the best single candidate; ``delivered`` is the best single's
    study's ``keys.TEST_SCORE``, so the advice says whether that study delivers it."""
    metric = metric_label(data["metric"])
    # Streamlit colours a positive delta green: for a loss (RMSE, log loss) lower is better.
    colour = "normal" if direction(data["direction"]).maximize else "inverse"
    cols = st.columns(4)
    cols[0].metric(
        f"Ensemble CV {metric}",
        fmt_score(data["cv_score"]),
        delta=f"{fmt_gain(data['cv_score'] - data['best_single_cv_score'])} vs best single",
        delta_color=colour,
    )
    cols[1].metric(f"Best single CV {metric}", fmt_score(data["best_single_cv_score"]))
    test, best_test = data.get("test_score"), data.get("best_single_test_score")
    cols[2].metric(
        f"Ensemble test {metric}",
        fmt_score(test),
        delta=None if test is None or best_test is None else fmt_gain(test - best_test),
        delta_color=colour,
    )
    cols[3].metric(f"Best single test {metric}", fmt_score(best_test))
    words = advice(data) + " " + which_single(data, delivered)
    if data["helps"]:
        st.success(words, icon=":material/check_circle:")
    else:
        st.warning(words, icon=":material/info:")
    st.plotly_chart(
        V.ensemble_comparison_figure(V.ensemble_comparison_data(data), metric),
        key="ensemble.comparison",
        config={"displaylogo": False},
    )
    members = pd.DataFrame(data["members"])
    st.dataframe(
        members,
        hide_index=True,
        column_config={
            "weight": st.column_config.NumberColumn("weight", format="%.3f"),
            "cv_score": st.column_config.NumberColumn(f"CV {metric}", format="%.4f"),
        },
    )
    for note in data.get("notes", []):
        st.caption(note)


def kept_frame(
    rows: Sequence[dict[str, Any]], final: dict | None = None, test: dict | None = None
) -> pd.DataFrame:
    """The kept ensembles, one row each. The search's own final ensemble (``final``, with the
    test score ``test`` of the study) reads as the live view says it: delivered, with its test
    score and its CV gain judged to help (it showed "test None" and "helps" unticked)."""
    delivered = (final or {}).get("ensemble_id") if (final or {}).get("kind") == "ensemble" else None

    def row(r: dict[str, Any]) -> dict[str, Any]:
        own = r["id"] == delivered
        return {
            "id": r["id"],
            "kind": r["kind"],
            "members": len(r["members"]),
            "cv": r["cv_score"],
            "best single cv": r["best_single_cv_score"],
            "test": (test or {}).get("value") if own else r.get("test_score"),
            "best single test": r.get("best_single_test_score"),
            "helps": True if own else r.get("helps"),
            "delivered": own,
            "created": r.get("created"),
        }

    return pd.DataFrame(
        [row(r) for r in rows],
        columns=["id", "kind", "members", "cv", "best single cv", "test", "best single test",
                 "helps", "delivered", "created"],
    )  # fmt: skip
