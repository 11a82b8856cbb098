"""Knobs dashboard: ``streamlit run app.py``. This file only navigates; pages live in ``app_pages/``."""

from __future__ import annotations

import streamlit as st

#: Sidebar section -> (page file, title, icon, URL path); the first page is the default.
PAGES = {
    "Tune": [
        ("data", "1. Data", "table_chart", ""),
        ("search", "2. Search", "tune", "search"),
        ("live", "3. Live view", "monitoring", "live"),
        ("studies", "Studies", "history", "studies"),
    ],
    "Compare": [
        ("race", "Strategy race", "flag", "race"),
        ("analytics", "Analytics", "insights", "analytics"),
    ],
    "Ship": [
        ("ensemble", "Ensembles", "join", "ensemble"),
        ("export", "Export", "download", "export"),
    ],
}

st.set_page_config(page_title="Knobs: tune tabular models", page_icon="🎛️", layout="wide")
st.navigation(
    {
        section: [
            st.Page(
                f"app_pages/{file}.py",
                title=title,
                icon=f":material/{icon}:",
                url_path=url or None,
                default=not url,
            )
            for file, title, icon, url in rows
        ]
        for section, rows in PAGES.items()
    }
).run()
