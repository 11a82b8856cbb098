"""Reusable Streamlit pieces shared by the pages: state, errors, forms, charts and tables.

Only this package and ``app_pages/`` import Streamlit; everything they show comes from ``knobs``.
"""
