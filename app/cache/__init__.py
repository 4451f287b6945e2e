"""The Cache view: cached entries, their hits and savings, and the threshold tuner."""
