"""The floor for ``bench/ui_scale.py``: a bare Streamlit page with one small plotly chart.

Nothing of Knobs runs here. The time from navigation to this chart is what Streamlit and
plotly.js cost on the machine (loading and starting the front end, fetching and compiling the
plotly bundle, drawing): no page of the app can show its first chart sooner.
"""

import plotly.graph_objects as go
import streamlit as st

st.title("Floor")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])))
