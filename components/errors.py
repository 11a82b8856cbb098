"""The one place where exceptions become messages on screen.

A :class:`knobs.KnobsError` carries a message written for the user (what, where, the value, the
fix), so it is shown as it is. Anything else is a bug in Knobs: the user gets a short apology with
a reference they can quote, and the traceback goes to the server log, never to the page.
Streamlit's own control flow (``st.rerun``, ``st.switch_page``, ``st.stop``) raises
``BaseException`` subclasses, which pass through untouched.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st

from knobs.errors import KnobsError

log = logging.getLogger("knobs.app")
T = TypeVar("T")

GENERIC = (
    "Something went wrong on our side while {what}. Your data and searches are safe; "
    "try again, and if it keeps happening, report reference `{ref}`."
)


def show_unexpected(exc: BaseException, what: str) -> str:
    """Log ``exc`` with a short reference and show a friendly message; returns the reference."""
    ref = secrets.token_hex(4)
    log.error("unexpected error %s while %s", ref, what, exc_info=exc)
    st.error(GENERIC.format(what=what, ref=ref), icon=":material/error:")
    return ref


@contextmanager
def boundary(what: str = "showing this page") -> Iterator[None]:
    """Wrap a whole page (or a fragment): no exception ever reaches Streamlit's own renderer."""
    try:
        yield
    except KnobsError as exc:
        st.error(str(exc), icon=":material/error:")
    except Exception as exc:  # a bug: log it, say sorry, keep the page alive
        show_unexpected(exc, what)


@contextmanager
def shown_here() -> Iterator[None]:
    """Show a user error right where it happened (next to its widget) and go on with the page.

    Only :class:`KnobsError` is caught here; a bug still goes to the page's boundary.
    """
    try:
        yield
    except KnobsError as exc:
        st.error(str(exc), icon=":material/error:")


def attempt(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
    """``fn(*args, **kwargs)``, or None after showing its user error in place."""
    try:
        return fn(*args, **kwargs)
    except KnobsError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def ran(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bool:
    """Whether ``fn(*args, **kwargs)`` succeeded; its user error, if any, is shown in place."""
    try:
        fn(*args, **kwargs)
    except KnobsError as exc:
        st.error(str(exc), icon=":material/error:")
        return False
    return True
