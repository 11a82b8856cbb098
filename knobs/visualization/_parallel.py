"""Each tuned trial as a line through its parameter values, coloured by score.

One figure for the live view and the Analytics page; its data step is ``tuned_trials`` and
``params_varied_in_complete`` (a parameter that never moved is an axis that says nothing).
"""

from __future__ import annotations

import optuna
import plotly.graph_objects as go

from ._selection import Trials, for_model, optuna_plot, params_varied_in_complete
from ._style import layout


def parallel_figure(
    trials: Trials, direction: str, metric: str = "score", *, model: str | None = None
) -> go.Figure:
    """Parallel coordinates of one model's trials (``tuned_trials``), named in the title."""
    params = params_varied_in_complete(trials) or None
    plot = optuna.visualization.plot_parallel_coordinate
    fig = optuna_plot(plot, trials, direction, params=params, target_name=metric)
    # Room above and beside the axes: their names and tick labels sit outside the plot area.
    title = for_model("Parameters of each trial", model)
    return layout(fig, title, height=360, margin={"l": 40, "r": 40, "t": 70, "b": 20})
