"""The Cache view: cached entries with their hits, savings, thresholds and evidence, and
the threshold tuner."""
