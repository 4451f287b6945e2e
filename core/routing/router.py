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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.config import CentwiseConfig, FeatureWeight, TierConfig
from core.errors import InputError
from core.routing.features import PromptFeatures, extract_features

if TYPE_CHECKING:
    from core.accounting.prices import ModelPrice

__all__ = ["RequestNeeds", "RouteDecision", "TierRouter", "missing_capabilities", "score_features"]

Reason = dict[str, object]


@dataclass(frozen=True, slots=True)
class RequestNeeds:
    """What a request carries beyond its text, for routing: tools declared (or tool
    calls in its conversation), images, a JSON Schema for the reply."""

    tools: int = 0
    images: int = 0
    json_schema: bool = False

    def required(self) -> list[str]:
        """The capabilities these need, by the price table's names."""
        out = ["supports_function_calling"] if self.tools else []
        out += ["supports_vision"] if self.images else []
        return out + (["supports_response_schema"] if self.json_schema else [])


_CAN = {
    "supports_function_calling": "call tools",
    "supports_vision": "read images",
    "supports_response_schema": "follow a JSON Schema",
}


def missing_capabilities(
    needs: RequestNeeds, tier: TierConfig | None, price: ModelPrice | None
) -> list[str]:
    """What the model cannot do that ``needs`` asks for: the tier's own setting wins,
    then the price table's flag; a model neither says anything about is assumed able."""
    out = []
    for name in needs.required():
        said = getattr(tier, name, None) if tier is not None else None
        if said is None and price is not None:
            said = getattr(price, name)
        if said is False:
            out.append(_CAN[name])
    return out


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
        ("tools", f.tools, float(f.tools)),
        ("images", f.images, float(f.images)),
        ("json_schema", f.json_schema, 1.0 if f.json_schema else 0.0),
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

    def score(
        self, prompt: str, prompt_tokens: int, depth: int = 0, needs: RequestNeeds | None = None
    ) -> tuple[float, list[Reason]]:
        """The 0-10 complexity of ``prompt`` and the reasons, strongest first."""
        n = needs or RequestNeeds()
        features = extract_features(
            prompt, prompt_tokens, depth, tools=n.tools, images=n.images, json_schema=n.json_schema
        )
        score, reasons = score_features(features, self._weights)
        reasons.sort(key=lambda r: -float(str(r["contribution"])))
        return score, reasons

    def tier_for_score(self, score: float) -> TierConfig:
        return next((t for t in self.tiers if score <= t.max_complexity), self.tiers[-1])

    def route(
        self,
        prompt: str,
        prompt_tokens: int,
        requested: str = "auto",
        *,
        depth: int = 0,
        needs: RequestNeeds | None = None,
        can: Callable[[TierConfig], list[str]] | None = None,
    ) -> RouteDecision:
        """Decide a tier; ``depth`` is how many user turns came before this one.

        ``needs`` (tools, images, a JSON Schema) feed the score; ``can(tier)`` names
        what a tier's model cannot do for this request, and such a tier is skipped for
        the next one up (then down) that can, with the reason kept."""
        if requested and requested != "auto":
            return self._explicit(requested)
        if not self.config.routing.enabled:
            tier = self.tiers[-1]
            return RouteDecision(tier, tier.provider, tier.model, None, "disabled")
        score, reasons = self.score(prompt, prompt_tokens, depth, needs)
        tier = self.tier_for_score(score)
        if can is not None and can(tier):
            tier, skipped = self._capable(tier, can)
            reasons = [*reasons, *skipped]
        return RouteDecision(tier, tier.provider, tier.model, score, "auto", reasons)

    def _capable(
        self, chosen: TierConfig, can: Callable[[TierConfig], list[str]]
    ) -> tuple[TierConfig, list[Reason]]:
        """The nearest tier that can serve the request (up first, then down), and one
        reason per tier skipped on the way. None can: the scored tier, and the provider
        answers for itself."""
        at = self.tiers.index(chosen)
        order = [*self.tiers[at:], *reversed(self.tiers[:at])]
        skipped: list[Reason] = []
        for tier in order:
            missing = can(tier)
            if not missing:
                return tier, skipped
            skipped.append(
                {
                    "feature": "capability",
                    "value": f"skipped {tier.id} ({tier.model}): cannot {', '.join(missing)}",
                    "contribution": 0.0,
                }
            )
        return chosen, skipped

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
