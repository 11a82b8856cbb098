"""The strategy race: which search strategy wins on *this* data, with statistics.

Several studies share one prepared dataset, one test split and one set of folds; they differ only
in their strategy and sampler seed. ``create_race`` writes them, ``run_race`` schedules them
fairly on the workers (``launch_race`` does it in a detached process for the dashboard), and
``summarize`` turns their trials into curves, a results table, paired tests and a verdict.
"""

from __future__ import annotations

from knobs._lazy import lazy_exports

_EXPORTS = {
    "stats": "_stats:",
    **{
        n: "_race"
        for n in (
            "CONTESTANTS", "Race", "RaceSpec", "RunInfo", "contestant_label", "split_contestant", "create_race", "launch_race",
            "list_races", "load_race", "parse_contestants", "race_path", "request_stop",
            "run_race", "schedule", "score_tests",
        )
    },
    **{
        n: "_summary"
        for n in (
            "Aggregate", "Comparison", "RaceSummary", "RunCurve", "curve_from_trials",
            "race_curves", "report", "results_csv", "results_rows", "summarize", "summary_of",
            "verdict",
        )
    },
}  # fmt: skip

__all__ = [
    "CONTESTANTS", "contestant_label", "split_contestant", "Aggregate", "Comparison", "Race", "RaceSpec", "RaceSummary",
    "RunCurve", "RunInfo", "create_race", "curve_from_trials", "launch_race", "list_races",
    "load_race", "parse_contestants", "race_curves", "race_path", "report", "request_stop",
    "results_csv", "results_rows", "run_race", "schedule", "score_tests", "stats", "summarize",
    "summary_of", "verdict",
]  # fmt: skip


# Lazy: ``knobs race --help`` must not pay for importing the search engine.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
