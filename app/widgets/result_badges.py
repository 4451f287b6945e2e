"""The badges under a reply: what it cost and why, from its ledger record.

Three rows, most important first: *primary* (cost, cache outcome, what the cache saved,
a failed status), *secondary* (tier and model, why it was routed there, retries and
fallbacks, context management, the Simulator), *tertiary* (tokens, latency). The
application stylesheet draws them from the labels' ``badge`` and ``tone`` properties
(:mod:`app.widgets.theme`); this module never names a colour.
"""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.widgets.design import SPACE
from app.widgets.formatting import fmt_ms, fmt_tokens, fmt_usd, fmt_usd_exact
from app.widgets.theme import repolish
from core.types import RequestRecord

__all__ = ["BADGE_KEYS", "ResultBadges", "context_text", "routing_summary", "routing_tooltip"]

BADGE_KEYS = (
    "status",
    "tier",
    "routing",
    "cache",
    "tokens",
    "cost",
    "saved",
    "latency",
    "retries",
    "context",
    "simulated",
)
# Each row's level (the ``badge`` property) and its badges, left to right.
_ROWS = (
    ("primary", ("status", "cost", "cache", "saved")),
    ("secondary", ("tier", "routing", "retries", "context", "simulated")),
    ("tertiary", ("tokens", "latency")),
)
# What a screen reader says before a badge whose text does not name itself.
_SPOKEN = {"cost": "Cost", "tier": "Tier", "routing": "Routing", "retries": "Retries"}
_TIER_TONES = ("fast", "balanced", "premium")
# Routing features as the routing badge names them (the tooltip keeps the raw names).
_FEATURE_WORDS = {
    "length": "length",
    "code_blocks": "code",
    "structured_output": "structured output",
    "reasoning_verbs": "reasoning",
    "multi_step": "steps",
    "questions": "questions",
    "math": "math",
    "high_stakes": "high stakes",
    "conversation_depth": "history",
    "tools": "tools",
    "images": "images",
    "json_schema": "JSON schema",
    "capability": "tier skipped",
    "prompt_cache": "warm provider cache",
}
_SUMMARY_FEATURES = 3


class ResultBadges(QFrame):
    """One small label per fact, in three rows by importance; facts that do not apply
    (no retries, a real call, nothing saved) hide."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels: dict[str, QLabel] = {}
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(SPACE[0])
        for level, keys in _ROWS:
            line = QHBoxLayout()
            # Plain tertiary text needs wider gaps than pills to read as separate facts.
            line.setSpacing(SPACE[2] if level == "tertiary" else SPACE[1])
            for key in keys:
                label = QLabel()
                label.setObjectName(f"badge_{key}")
                label.setProperty("badge", level)
                label.setProperty("tone", "neutral")
                label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                label.hide()
                self.labels[key] = label
                line.addWidget(label)
            line.addStretch(1)
            rows.addLayout(line)
        self.record: RequestRecord | None = None

    def clear(self) -> None:
        self.record = None
        for label in self.labels.values():
            label.hide()

    def show_record(self, rec: RequestRecord) -> None:
        self.record = rec
        failed = rec.status != "ok"
        self._set(
            "status",
            f"status: {rec.status}",
            rec.error or "",
            tone="warn" if rec.status == "cancelled" else "bad",
            visible=failed,
        )
        cost_text, cost_tone = _cost(rec)
        self._set("cost", cost_text, _cost_tip(rec), tone=cost_tone)
        cache_text, cache_tone = _cache(rec)
        self._set("cache", cache_text, _cache_tip(rec), tone=cache_tone)
        self._set(
            "saved",
            f"saved {fmt_usd(rec.saved_usd)}",
            f"The cache saved {fmt_usd_exact(rec.saved_usd)}: what the model would have charged",
            tone="good",
            visible=rec.saved_usd > 0,
        )
        self._set(
            "tier",
            f"{rec.tier or '–'} · {rec.model or '?'}",
            routing_tooltip(rec),
            tone=_tier_tone(rec.tier),
        )
        summary = routing_summary(rec)
        self._set("routing", summary, routing_tooltip(rec), visible=bool(summary))
        retry_text, retry_tip = _retries(rec)
        self._set("retries", retry_text, retry_tip, tone="warn", visible=bool(retry_text))
        self._set(
            "context",
            context_text(rec),
            "History sent with this message: tokens before and after context management,\n"
            "what the dropped tokens would have cost, and what was done",
            tone="info",
            visible=_context_worked(rec),
        )
        self._set(
            "simulated",
            "simulated",
            "Answered by the offline Simulator; the cost is what the real model would charge",
            tone="info",
            visible=rec.simulated,
        )
        self._set("tokens", _tokens_text(rec), _tokens_tip(rec))
        self._set(
            "latency",
            f"latency {fmt_ms(rec.latency_ms)} · TTFT {fmt_ms(rec.ttft_ms)}",
            "Total time, and time to the first token",
        )

    def _set(
        self, key: str, text: str, tip: str, *, tone: str = "neutral", visible: bool = True
    ) -> None:
        label = self.labels[key]
        label.setText(text)
        label.setToolTip(tip)
        spoken = _SPOKEN.get(key)
        label.setAccessibleName(f"{spoken}: {text}" if spoken else text)
        if label.property("tone") != tone:
            label.setProperty("tone", tone)
            repolish(label)
        label.setVisible(visible)


def routing_tooltip(rec: RequestRecord) -> str:
    """Each routing feature and its contribution to the complexity score."""
    if rec.route_mode == "explicit":
        return f"Chosen explicitly: {rec.provider}/{rec.model}"
    if rec.route_mode == "disabled":
        return "Routing is disabled: the top tier answers everything"
    if rec.route_score is None and not rec.route_reasons:
        return "No routing information"
    lines = [f"Complexity score {rec.route_score} → tier {rec.tier} ({rec.route_mode})"]
    for reason in rec.route_reasons:
        lines.append(
            f"• {reason.get('feature')}: {reason.get('value')} → +{reason.get('contribution')}"
        )
    if not rec.route_reasons:
        lines.append("• no feature contributed")
    return "\n".join(lines)


def routing_summary(rec: RequestRecord) -> str:
    """Why this tier, in a few words: ``score 0.42 · length, code``; empty when unknown.

    The strongest features only; :func:`routing_tooltip` has every one and its weight.
    """
    if rec.route_mode == "explicit":
        return "chosen explicitly"
    if rec.route_mode == "disabled":
        return "routing off"
    if rec.route_score is None:
        return ""
    scored = sorted(
        (r for r in rec.route_reasons if _contribution(r) > 0), key=lambda r: -_contribution(r)
    )
    words = [_feature_word(r) for r in scored[:_SUMMARY_FEATURES]]
    words += [_feature_word(r) for r in rec.route_reasons if _contribution(r) <= 0]
    text = f"score {rec.route_score:.2f}"
    return f"{text} · {', '.join(dict.fromkeys(words))}" if words else text


def _contribution(reason: dict[str, object]) -> float:
    value = reason.get("contribution")
    return float(value) if isinstance(value, int | float | str | Decimal) else 0.0


def _feature_word(reason: dict[str, object]) -> str:
    feature = str(reason.get("feature"))
    return _FEATURE_WORDS.get(feature, feature.replace("_", " "))


def _tier_tone(tier: str | None) -> str:
    return f"tier-{tier}" if tier in _TIER_TONES else "tier-other"


def context_text(rec: RequestRecord) -> str:
    """``context 9,421→961 tokens, saved $0.000021 (window, summary)``."""
    text = (
        f"context {fmt_tokens(rec.context_tokens_before)}→{fmt_tokens(rec.context_tokens_after)}"
        f" tokens, saved {fmt_usd(rec.context_saved_usd)}"
    )
    if rec.context_actions:
        text += f" ({', '.join(rec.context_actions)})"
    return text


def _context_worked(rec: RequestRecord) -> bool:
    """Shown for a conversation's turns, or whenever context management changed a prompt."""
    if rec.context_tokens_before is None:
        return False
    trimmed = rec.context_tokens_before != rec.context_tokens_after
    return rec.conversation_id is not None or trimmed or bool(rec.context_actions)


def _cost(rec: RequestRecord) -> tuple[str, str]:
    """The cost badge's text and tone: an answer the cache made free reads good, an
    unknown price warns."""
    if not rec.cost_known or rec.cost_usd is None:
        return "cost unknown", "warn"
    free = rec.cost_usd == 0 and rec.cache_outcome != "miss"
    return fmt_usd(rec.cost_usd), "good" if free else "neutral"


def _cost_tip(rec: RequestRecord) -> str:
    if not rec.cost_known or rec.cost_usd is None:
        return "No known price for this model: the cost is unknown"
    return f"Cost {fmt_usd_exact(rec.cost_usd)}, exact at the price table's rates"


def _cache(rec: RequestRecord) -> tuple[str, str]:
    """``cache miss``, ``cache hit · exact``, ``cache hit · semantic 0.97``, or the
    fallback served when every provider failed (a warning)."""
    outcome, similarity = rec.cache_outcome, rec.cache_similarity
    if outcome == "miss":
        return "cache miss", "neutral"
    if outcome == "fallback":
        near = f" · similarity {similarity:.2f}" if similarity is not None else ""
        return f"cache fallback{near}", "warn"
    near = f" {similarity:.2f}" if outcome == "semantic" and similarity is not None else ""
    return f"cache hit · {outcome}{near}", "good"


def _cache_tip(rec: RequestRecord) -> str:
    if rec.cache_outcome == "fallback":
        return f"Providers failed; served the cached answer of {rec.cache_matched_request_id}"
    if rec.cache_matched_request_id:
        return f"Answered from {rec.cache_matched_request_id}"
    return "Not answered from the cache" if rec.cache_outcome == "miss" else ""


def _tokens_text(rec: RequestRecord) -> str:
    u = rec.usage
    text = (
        f"tokens in {fmt_tokens(u.input_tokens)} (est. {fmt_tokens(rec.estimated_input_tokens)})"
        f" · out {fmt_tokens(u.output_tokens)}"
    )
    if u.cached_input_tokens:
        text += f" · cached {fmt_tokens(u.cached_input_tokens)}"
    if u.reasoning_tokens:
        text += f" · reasoning {fmt_tokens(u.reasoning_tokens)}"
    return text


def _tokens_tip(rec: RequestRecord) -> str:
    who = "counted by Centwise (the provider did not say)" if rec.usage_estimated else "reported"
    return (
        f"Input tokens estimated before the call: {fmt_tokens(rec.estimated_input_tokens)}\n"
        f"Usage after the call is {who}"
    )


def _retries(rec: RequestRecord) -> tuple[str, str]:
    first = rec.attempts[0] if rec.attempts else None
    fallbacks = [
        f"{a.provider}/{a.model}"
        for a in rec.attempts
        if first and (a.provider, a.model) != (first.provider, first.model)
    ]
    parts = []
    if rec.retries:
        parts.append(f"{rec.retries} retr{'y' if rec.retries == 1 else 'ies'}")
    if fallbacks:
        parts.append(f"fallback → {fallbacks[-1]}")
    tip = "\n".join(f"{a.provider}/{a.model}: {a.status} {a.error or ''}" for a in rec.attempts)
    return " · ".join(parts), tip
