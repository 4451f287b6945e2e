"""One place where widgets report any failure to the user.

Like Anki's ``aqt/errors.py::show_exception``: widgets call :func:`show_error` with
the exception and themselves; the message (:func:`app.runtime.error_text.describe_error`)
goes to the window's non-modal banner and status bar. No traceback dialog, ever;
unexpected errors are logged with theirs.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QWidget

from app.runtime.error_text import describe_error
from core.errors import CentwiseError

__all__ = ["show_error", "show_message"]

log = logging.getLogger(__name__)


def show_message(widget: QWidget | None, text: str, level: str = "info") -> None:
    """Show ``text`` in the banner of ``widget``'s main window (or log it)."""
    window = widget.window() if widget is not None else None
    sink = getattr(window, "show_message", None)
    if callable(sink):
        sink(text, level)
    else:
        log.warning("%s", text)


def show_error(error: BaseException, widget: QWidget | None = None) -> str:
    """Report ``error`` without a traceback dialog; returns the message shown."""
    if not isinstance(error, CentwiseError | OSError):
        log.error("unexpected error", exc_info=error)
    text = describe_error(error)
    show_message(widget, text, "error")
    return text
