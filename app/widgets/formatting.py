"""How amounts, token counts and durations read in the app (one place, one style)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from core.money import format_usd

__all__ = ["fmt_ms", "fmt_seconds_ago", "fmt_time", "fmt_tokens", "fmt_usd", "fmt_usd_exact"]


def fmt_usd(amount: Decimal | None) -> str:
    """``$0.000026``, ``$0.0442``, ``$1,234.57``: :func:`core.money.format_usd`, the CLI's
    formatting too; ``unknown`` when nobody knows the price."""
    return format_usd(amount)


def fmt_usd_exact(amount: Decimal | None) -> str:
    """Every digit the ledger holds, for tooltips: ``$0.000026123456``."""
    return format_usd(amount, exact=True)


def fmt_tokens(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def fmt_ms(ms: float | None) -> str:
    """``850 ms`` or ``1.25 s``; a dash when not measured."""
    if ms is None:
        return "–"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def fmt_time(ts: float) -> str:
    """A ledger timestamp in local time, to the second."""
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def fmt_seconds_ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago"
