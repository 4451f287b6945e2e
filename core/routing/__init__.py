"""Routing: which tier a prompt goes to, and why.

* :mod:`core.routing.features`: what is measured in a prompt (length, code,
  reasoning verbs, high-stakes words, ...);
* :mod:`core.routing.router`: :class:`TierRouter`, the score, the reasons, explicit
  tier or model requests;
* :mod:`core.routing.boundaries`: writing calibrated tier boundaries back into the
  user's TOML, comments kept.
"""

from core.routing.boundaries import write_tier_boundaries
from core.routing.features import PromptFeatures, extract_features
from core.routing.router import RouteDecision, TierRouter

__all__ = [
    "PromptFeatures",
    "RouteDecision",
    "TierRouter",
    "extract_features",
    "write_tier_boundaries",
]
