"""Knobs dashboard: ``streamlit run app.py``. This file only navigates; pages live in ``app_pages/``."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Knobs: tune tabular models", page_icon="🎛️", layout="wide")
st.navigation(
    {
        "Tune": [
            st.Page(
                "app_pages/data.py", title="1. Data", icon=":material/table_chart:", default=True
            ),
            st.Page(
                "app_pages/search.py", title="2. Search", icon=":material/tune:", url_path="search"
            ),
            st.Page(
                "app_pages/live.py",
                title="3. Live view",
                icon=":material/monitoring:",
                url_path="live",
            ),
            st.Page(
                "app_pages/studies.py",
                title="Studies",
                icon=":material/history:",
                url_path="studies",
            ),
        ],
        "Compare": [
            st.Page(
                "app_pages/race.py", title="Strategy race", icon=":material/flag:", url_path="race"
            ),
            st.Page(
                "app_pages/analytics.py",
                title="Analytics",
                icon=":material/insights:",
                url_path="analytics",
            ),
        ],
        "Ship": [
            st.Page(
                "app_pages/ensemble.py",
                title="Ensembles",
                icon=":material/join:",
                url_path="ensemble",
            ),
            st.Page(
                "app_pages/export.py", title="Export", icon=":material/download:", url_path="export"
            ),
        ],
    }
).run()
