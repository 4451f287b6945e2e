"""Exact money.

Amounts are :class:`~decimal.Decimal` dollars in Python and integer **picodollars**
(10^-12 USD) in the database. Per-token prices in published tables go down to about
10^-9 USD, so picodollars hold every per-request cost exactly; sums stay integers, so
aggregates are exact too. No float ever touches an amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "PICO",
    "USD",
    "format_usd",
    "format_usd_ticks",
    "from_pusd",
    "parse_usd",
    "to_pusd",
]

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


SIGNIFICANT = 3  # digits kept below a dollar: $0.000026, $0.0442, $0.25


def format_usd(amount: Decimal | None, *, exact: bool = False) -> str:
    """How an amount reads, in the app and the CLI alike; ``unknown`` for a cost nobody knows.

    From a dollar up: cents with thousands separators (``$1,234.57``). Below: three
    significant digits and at least two places (``$0.25``, ``$0.0442``, ``$0.000026``),
    so a non-zero amount never reads as zero; halves round up, as on a bill. ``exact`` gives every digit the ledger
    holds (``$0.000026123456``), for tooltips. Never an exponent; ``-$0.25`` below zero.
    """
    if amount is None:
        return "unknown"
    size = abs(amount)
    if exact:
        text = _grouped(size.normalize())
    elif size >= 1 or size == 0:
        text = f"{size.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"
    else:
        places = max(2, SIGNIFICANT - 1 - size.adjusted())
        text = _grouped(size.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    return f"-${text}" if amount < 0 and text.strip("0.,") else f"${text}"


def _grouped(amount: Decimal) -> str:
    """A non-negative amount with thousands separators, no exponent, trailing zeros past the
    cents dropped."""
    whole, _, frac = format(amount, "f").partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{int(whole):,}.{frac}"


def format_usd_ticks(values: Sequence[float]) -> list[str]:
    """Labels for a chart's dollar axis: one number of places for all ticks, the fewest
    that tell them apart exactly (``$0``, ``$0.000025``, ``$0.00005``); never an exponent."""
    places = 0
    while places < 12 and any(
        abs(v - round(v, places)) > 1e-9 * max(abs(v), 1e-12) for v in values
    ):
        places += 1
    if places == 1:
        places = 2  # "$0.50", not "$0.5"
    out = []
    for v in values:
        text = f"{abs(v):,.{places}f}" if v else "0"
        out.append(f"-${text}" if v < 0 and text.strip("0.,") else f"${text}")
    return out


def usd_str(amount: Decimal | None) -> str | None:
    """The exact decimal string used in JSON and exports (no exponent, no float)."""
    if amount is None:
        return None
    text = format(amount.normalize(), "f")
    return text if text != "-0" else "0"


__all__ += ["usd_str"]
