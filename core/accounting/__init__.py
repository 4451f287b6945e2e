"""Accounting: what a request costs, exactly, and what the budgets allow.

* :mod:`core.accounting.prices`: the LiteLLM-format price table and exact costs
  (an unknown price is ``None``, never $0);
* :mod:`core.accounting.tokens`: offline tiktoken encodings and message overhead;
* :mod:`core.accounting.budget`: :class:`BudgetPolicy`, caps, reservations, alerts,
  forecast (over the ledger's period spend).
"""

from core.accounting.budget import BudgetAlert, BudgetPolicy, Forecast
from core.accounting.prices import ModelPrice, PriceTable, cost_of, worst_case_cost
from core.accounting.tokens import TokenCount, TokenCounter

__all__ = [
    "BudgetAlert",
    "BudgetPolicy",
    "Forecast",
    "ModelPrice",
    "PriceTable",
    "TokenCount",
    "TokenCounter",
    "cost_of",
    "worst_case_cost",
]
