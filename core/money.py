"""Exact money.

Amounts are :class:`~decimal.Decimal` dollars in Python and integer **picodollars**
(10^-12 USD) in the database. Per-token prices in published tables go down to about
10^-9 USD, so picodollars hold every per-request cost exactly; sums stay integers, so
aggregates are exact too. No float ever touches an amount.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

__all__ = ["PICO", "USD", "format_usd", "from_pusd", "parse_usd", "to_pusd"]

USD = Decimal
PICO = Decimal("0.000000000001")
_PER_USD = 10**12


def to_pusd(amount: Decimal) -> int:
    """Dollars to integer picodollars (half-even below a picodollar, which is < 1e-12 $)."""
    return int((amount * _PER_USD).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_pusd(pusd: int) -> Decimal:
    """Integer picodollars back to exact dollars."""
    return Decimal(pusd).scaleb(-12)


def parse_usd(value: object, *, what: str = "amount") -> Decimal:
    """Parse a config or file value into exact dollars; floats go through ``repr``."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a number of dollars, got {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        dec = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{what}: expected a number of dollars, got {value!r}") from None
    if not dec.is_finite():
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    return dec


def format_usd(amount: Decimal | None, *, places: int = 6) -> str:
    """A display string such as ``$0.001234`` (``-$0.25`` below zero); ``unknown`` for a
    cost nobody knows."""
    if amount is None:
        return "unknown"
    q = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"-${-q}" if q < 0 else f"${abs(q)}"  # "-$0.25", never "$-0.25"


def usd_str(amount: Decimal | None) -> str | None:
    """The exact decimal string used in JSON and exports (no exponent, no float)."""
    if amount is None:
        return None
    text = format(amount.normalize(), "f")
    return text if text != "-0" else "0"


__all__ += ["usd_str"]
