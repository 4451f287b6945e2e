"""Every error becomes one readable line; nothing shows a traceback."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytest.importorskip("PySide6")

from app.runtime.error_text import describe_error
from core.errors import BudgetExceededError, RateLimitError


def test_centwise_errors_read_as_sentences_with_context():
    err = RateLimitError("rate limited; retry in 2 s", provider="openai", model="gpt-4o")
    assert describe_error(err) == (
        "The provider call failed: rate limited; retry in 2 s (openai/gpt-4o)"
    )
    refused = BudgetExceededError(
        "refused by the daily budget", budget="daily", spent_usd=Decimal(1), limit_usd=Decimal(1)
    )
    assert describe_error(refused) == "Refused by a budget: refused by the daily budget"


def test_unexpected_errors_name_the_type_not_a_traceback():
    text = describe_error(ValueError("boom"))
    assert text.startswith("Unexpected error (ValueError): boom")
    assert "Traceback" not in text
