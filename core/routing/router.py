"""Choosing a tier: a 0-10 complexity score from explicit features, with its reasons.

The features (:mod:`core.routing.features`) are measured, each is weighted by
``[routing.weights]`` (``per`` unit, capped at ``max``), and the capped sum is the
score. The first tier whose ``max_complexity`` is at least the score serves the
request; ``centwise route calibrate`` chooses those boundaries from a golden set.
Every decision carries its reasons (feature, raw value, contribution), which the
ledger stores so the app can answer "why premium?".

A request that names a tier or model bypasses routing and says so (``mode="explicit"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.config import CentwiseConfig, FeatureWeight, TierConfig
from core.errors import InputError
from core.routing.features import PromptFeatures, extract_features

__all__ = ["RouteDecision", "TierRouter", "score_features"]

Reason = dict[str, object]


@dataclass(frozen=True, slots=True)
class RouteDecision:
    tier: TierConfig
    provider: str
    model: str
    score: float | None
    mode: str  # auto | explicit | disabled
    reasons: list[Reason] = field(default_factory=list)
    #: A concrete model was named (not a tier): no fallback may replace it.
    pinned: bool = False


def _measures(f: PromptFeatures) -> list[tuple[str, object, float]]:
    """(feature, value shown to people, units the weight multiplies)."""
    return [
        ("length", f.length_tokens, f.length_tokens / 1000),
        ("code_blocks", f.code_blocks, float(f.code_blocks)),
        ("structured_output", list(f.structured), 1.0 if f.structured else 0.0),
        ("reasoning_verbs", list(f.reasoning), float(len(f.reasoning))),
        ("multi_step", f.steps, float(f.steps)),
        ("questions", f.questions, float(max(0, f.questions - 1))),
        ("math", f.math, float(f.math)),
        ("high_stakes", list(f.high_stakes), float(len(f.high_stakes))),
        ("conversation_depth", f.depth, float(f.depth)),
    ]


def score_features(
    features: PromptFeatures, weights: dict[str, FeatureWeight]
) -> tuple[float, list[Reason]]:
    """The capped score and one reason per feature that contributed."""
    reasons: list[Reason] = []
    total = 0.0
    for name, value, units in _measures(features):
        w = weights[name]
        contribution = round(min(w.max, w.per * units), 3)
        if contribution > 0:
            reasons.append({"feature": name, "value": value, "contribution": contribution})
            total += contribution
    return round(min(10.0, total), 3), reasons


class TierRouter:
    """Maps a prompt to a tier, or resolves an explicit tier or ``provider/model``."""

    def __init__(self, config: CentwiseConfig) -> None:
        self.config = config
        self.tiers = config.routing.tiers
        w = config.routing.weights
        self._weights = {name: getattr(w, name) for name in type(w).model_fields}

    def score(self, prompt: str, prompt_tokens: int, depth: int = 0) -> tuple[float, list[Reason]]:
        """The 0-10 complexity of ``prompt`` and the reasons, strongest first."""
        score, reasons = score_features(
            extract_features(prompt, prompt_tokens, depth), self._weights
        )
        reasons.sort(key=lambda r: -float(str(r["contribution"])))
        return score, reasons

    def tier_for_score(self, score: float) -> TierConfig:
        return next((t for t in self.tiers if score <= t.max_complexity), self.tiers[-1])

    def route(
        self, prompt: str, prompt_tokens: int, requested: str = "auto", *, depth: int = 0
    ) -> RouteDecision:
        """Decide a tier; ``depth`` is how many user turns came before this one."""
        if requested and requested != "auto":
            return self._explicit(requested)
        if not self.config.routing.enabled:
            tier = self.tiers[-1]
            return RouteDecision(tier, tier.provider, tier.model, None, "disabled")
        score, reasons = self.score(prompt, prompt_tokens, depth)
        tier = self.tier_for_score(score)
        return RouteDecision(tier, tier.provider, tier.model, score, "auto", reasons)

    def _explicit(self, requested: str) -> RouteDecision:
        tier = self.config.tier(requested)
        if tier is not None:
            return RouteDecision(tier, tier.provider, tier.model, None, "explicit")
        provider, sep, model = requested.partition("/")
        if sep and provider in self.config.providers and model:
            return RouteDecision(
                self._tier_for(model), provider, model, None, "explicit", pinned=True
            )
        for t in self.tiers:
            if t.model == requested:
                return RouteDecision(t, t.provider, t.model, None, "explicit", pinned=True)
        tiers = ", ".join(t.id for t in self.tiers)
        raise InputError(
            f"unknown model {requested!r}: use auto, a tier ({tiers}), a tier's model, "
            f"or PROVIDER/MODEL with a provider from the config"
        )

    def _tier_for(self, model: str) -> TierConfig:
        """The tier an explicit model counts as: the one using it, else the top tier."""
        return next((t for t in self.tiers if t.model == model), self.tiers[-1])
