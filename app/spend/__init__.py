"""The Spend view: totals, budgets, forecast and savings, daily charts, breakdowns."""
