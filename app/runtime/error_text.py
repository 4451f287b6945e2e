"""Any failure as one paragraph a user can read: plain text, no Qt.

:func:`describe_error` is what every message about a failure says, whether a widget
shows it (:func:`app.widgets.errors.show_error`) or the runtime reports it
(:func:`app.runtime.config_apply.write_and_reopen`).
"""

from __future__ import annotations

from core.errors import (
    BudgetError,
    CentwiseError,
    ConfigError,
    InputError,
    LedgerError,
    ProviderError,
)

__all__ = ["describe_error"]

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
