"""Choosing a tier: a complexity score from explicit features, with its reasons.

This is the foundation's simple rule (length, code, structure and reasoning words);
issue 6 replaces the features and makes the weights configurable. A request that
names a tier or model bypasses routing and says so (``mode="explicit"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.config import CentwiseConfig, TierConfig
from core.errors import InputError

__all__ = ["RouteDecision", "TierRouter"]

_REASONING = re.compile(
    r"\b(analy[sz]e|compare|derive|prove|explain why|evaluate|critique|design)\b", re.IGNORECASE
)
_STRUCTURED = re.compile(r"\b(json|yaml|csv|schema|table)\b", re.IGNORECASE)
_STEPS = re.compile(r"(^\s*\d+[.)]\s)|\bthen\b", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class RouteDecision:
    tier: TierConfig
    provider: str
    model: str
    score: float | None
    mode: str  # auto | explicit | disabled
    reasons: list[dict[str, object]] = field(default_factory=list)
    #: A concrete model was named (not a tier): no fallback may replace it.
    pinned: bool = False


class TierRouter:
    """Maps a prompt to a tier, or resolves an explicit tier or ``provider/model``."""

    def __init__(self, config: CentwiseConfig) -> None:
        self.config = config
        self.tiers = config.routing.tiers

    def score(self, prompt: str, prompt_tokens: int) -> tuple[float, list[dict[str, object]]]:
        reasons: list[dict[str, object]] = []

        def add(feature: str, value: object, contribution: float) -> None:
            if contribution:
                reasons.append({"feature": feature, "value": value, "contribution": contribution})

        add("length_tokens", prompt_tokens, min(3.0, prompt_tokens / 250))
        add("code_blocks", prompt.count("```") // 2, 2.0 if "```" in prompt else 0.0)
        structured = _STRUCTURED.findall(prompt)
        add("structured_output", len(structured), 1.5 if structured else 0.0)
        verbs = sorted({v.lower() for v in _REASONING.findall(prompt)})
        add("reasoning_verbs", verbs, min(4.0, 2.0 * len(verbs)))
        steps = len(_STEPS.findall(prompt))
        add("multi_step", steps, min(2.0, 0.5 * steps))
        total = round(min(10.0, sum(float(str(r["contribution"])) for r in reasons)), 3)
        return total, reasons

    def route(self, prompt: str, prompt_tokens: int, requested: str = "auto") -> RouteDecision:
        if requested and requested != "auto":
            return self._explicit(requested)
        if not self.config.routing.enabled:
            tier = self.tiers[-1]
            return RouteDecision(tier, tier.provider, tier.model, None, "disabled")
        score, reasons = self.score(prompt, prompt_tokens)
        tier = next((t for t in self.tiers if score <= t.max_complexity), self.tiers[-1])
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
