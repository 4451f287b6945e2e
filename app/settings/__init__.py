"""The Settings view: providers and keys, tiers, budgets, cache and routing options."""
