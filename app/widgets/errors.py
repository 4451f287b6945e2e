"""One place that turns any failure into a message a user can read.

Like Anki's ``aqt/errors.py::show_exception``: widgets call :func:`show_error` with
the exception and themselves; the message goes to the window's non-modal banner and
status bar. No traceback dialog, ever; unexpected errors are logged with theirs.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QWidget

from core.errors import (
    BudgetError,
    CentwiseError,
    ConfigError,
    InputError,
    LedgerError,
    ProviderError,
)

__all__ = ["describe_error", "show_error", "show_message"]

log = logging.getLogger(__name__)

_TITLES: tuple[tuple[type[CentwiseError], str], ...] = (
    (BudgetError, "Refused by a budget"),
    (ProviderError, "The provider call failed"),
    (ConfigError, "Configuration problem"),
    (InputError, "Cannot send this"),
    (LedgerError, "Ledger problem"),
)


def describe_error(error: BaseException) -> str:
    """A one-paragraph message: what happened, in words, with its context."""
    if isinstance(error, CentwiseError):
        title = next((t for cls, t in _TITLES if isinstance(error, cls)), "Centwise error")
        where = "/".join(p for p in (error.provider, error.model) if p)
        suffix = f" ({where})" if where and where not in error.message else ""
        return f"{title}: {error.message}{suffix}"
    if isinstance(error, OSError):
        return f"File or system error: {error.strerror or error}"
    return f"Unexpected error ({type(error).__name__}): {error}. Details are in the log."


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
