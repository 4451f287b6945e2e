"""The Compare view: one prompt on several tiers side by side, optionally judged."""
