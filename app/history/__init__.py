"""The History view: every recorded request, filtered and paged, with its detail."""
