"""How amounts read: one function for the app and the CLI, over $0.0000001 to $1,000,000."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from core.money import format_usd, format_usd_ticks, from_pusd, usd_str

EXPONENT = re.compile(r"\d[eE][-+]?\d")


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0", "$0.00"),
        ("0.000000000001", "$0.000000000001"),
        ("0.0000001", "$0.0000001"),
        ("0.00000012345", "$0.000000123"),
        ("0.000026", "$0.000026"),
        ("0.0000261234", "$0.0000261"),
        ("0.000414", "$0.000414"),
        ("0.0099996", "$0.01"),
        ("0.012", "$0.012"),
        ("0.0442", "$0.0442"),
        ("0.05", "$0.05"),
        ("0.25", "$0.25"),
        ("0.5", "$0.50"),
        ("0.123456", "$0.123"),
        ("1", "$1.00"),
        ("1.005", "$1.01"),
        ("12.345", "$12.35"),
        ("1234.567", "$1,234.57"),
        ("999999.999", "$1,000,000.00"),
        ("1000000", "$1,000,000.00"),
        ("-0.25", "-$0.25"),
        ("-0.000026", "-$0.000026"),
        ("-1234.5", "-$1,234.50"),
    ],
)
def test_amounts_read_with_adaptive_precision(amount: str, text: str) -> None:
    assert format_usd(Decimal(amount)) == text


def test_unknown_is_a_word_not_zero() -> None:
    assert format_usd(None) == "unknown"
    assert format_usd(None, exact=True) == "unknown"


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0.000026123456", "$0.000026123456"),
        ("1234.5", "$1,234.50"),
        ("1000000", "$1,000,000.00"),
        ("0.1E-6", "$0.0000001"),
        ("-0.000000000001", "-$0.000000000001"),
        ("0", "$0.00"),
    ],
)
def test_exact_keeps_every_digit(amount: str, text: str) -> None:
    assert format_usd(Decimal(amount), exact=True) == text


def test_the_whole_range_never_reads_zero_nor_uses_an_exponent() -> None:
    """Every picodollar magnitude from $0.0000001 to $1,000,000, with awkward digits."""
    for exponent in range(-7, 7):
        for mantissa in ("1", "1.5", "2.5", "9.99", "9.9999", "4.2424242"):
            amount = Decimal(mantissa).scaleb(exponent)
            text = format_usd(amount)
            assert not EXPONENT.search(text), text
            assert text.strip("$0.,"), f"{amount} reads as zero: {text}"
            digits = text.lstrip("$").replace(",", "")
            shown = Decimal(digits)
            # Within half a unit of the last place shown, and never off by more than 0.5%.
            assert abs(shown - amount) <= amount * Decimal("0.005") + Decimal("0.005") * (
                amount >= 1
            ), (amount, text)
            if amount >= 1000:
                assert "," in text
            exact = format_usd(amount, exact=True)
            assert Decimal(exact.lstrip("$").replace(",", "")) == amount


def test_every_picodollar_round_trips_through_exact() -> None:
    for pusd in (1, 7, 26_000_000, 123_456_789_012, 10**18):
        amount = from_pusd(pusd)
        assert Decimal(format_usd(amount, exact=True).lstrip("$").replace(",", "")) == amount
        assert usd_str(amount) == format(amount.normalize(), "f")


@pytest.mark.parametrize(
    ("ticks", "labels"),
    [
        ([0.0, 2.5e-5, 5e-5], ["$0", "$0.000025", "$0.000050"]),
        ([0.0, 0.1, 0.2, 0.3], ["$0", "$0.10", "$0.20", "$0.30"]),
        ([0.0, 0.002, 0.004], ["$0", "$0.002", "$0.004"]),
        ([0.0, 5.0, 10.0], ["$0", "$5", "$10"]),
        ([0.0, 250_000.0, 1_000_000.0], ["$0", "$250,000", "$1,000,000"]),
        ([1e-7, 2e-7], ["$0.0000001", "$0.0000002"]),
        ([-0.5, 0.5], ["-$0.50", "$0.50"]),
    ],
)
def test_axis_ticks_share_places_and_never_use_an_exponent(
    ticks: list[float], labels: list[str]
) -> None:
    assert format_usd_ticks(ticks) == labels
