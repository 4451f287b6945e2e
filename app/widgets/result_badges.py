"""The badges under a reply: what it cost and why, from its ledger record."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.widgets.formatting import fmt_ms, fmt_tokens, fmt_usd
from core.types import RequestRecord

__all__ = ["BADGE_KEYS", "ResultBadges", "context_text", "routing_tooltip"]

BADGE_KEYS = (
    "status",
    "tier",
    "cache",
    "tokens",
    "cost",
    "saved",
    "latency",
    "retries",
    "context",
    "simulated",
)
_FIRST_ROW = 5  # status, tier, cache, tokens, cost; then the rest


class ResultBadges(QFrame):
    """One small framed label per fact; hidden facts (no retries, real call) hide."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels: dict[str, QLabel] = {}
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        lines = [QHBoxLayout(), QHBoxLayout()]
        for line in lines:
            line.setSpacing(6)
            rows.addLayout(line)
        for i, key in enumerate(BADGE_KEYS):
            label = QLabel()
            label.setObjectName(f"badge_{key}")
            label.setFrameShape(QFrame.Shape.StyledPanel)
            label.setMargin(3)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.hide()
            self.labels[key] = label
            lines[0 if i < _FIRST_ROW else 1].addWidget(label)
        for line in lines:
            line.addStretch(1)
        self.record: RequestRecord | None = None

    def clear(self) -> None:
        self.record = None
        for label in self.labels.values():
            label.hide()

    def show_record(self, rec: RequestRecord) -> None:
        self.record = rec
        self._set("status", f"status: {rec.status}", rec.error or "", visible=rec.status != "ok")
        self._set("tier", f"tier: {rec.tier or '–'} · {rec.model or '?'}", routing_tooltip(rec))
        self._set("cache", _cache_text(rec), _cache_tip(rec))
        self._set("tokens", _tokens_text(rec), _tokens_tip(rec))
        self._set("cost", f"cost: {fmt_usd(rec.cost_usd)}", _cost_tip(rec))
        self._set("saved", f"saved: {fmt_usd(rec.saved_usd)}", "What the cache saved")
        self._set(
            "latency",
            f"latency {fmt_ms(rec.latency_ms)} · TTFT {fmt_ms(rec.ttft_ms)}",
            "Total time, and time to the first token",
        )
        self._set(
            "context",
            context_text(rec),
            "History sent with this message: tokens before and after context management,\n"
            "what the dropped tokens would have cost, and what was done",
            visible=_context_worked(rec),
        )
        retry_text, retry_tip = _retries(rec)
        self._set("retries", retry_text, retry_tip, visible=bool(retry_text))
        self._set(
            "simulated",
            "simulated",
            "Answered by the offline Simulator; the cost is what the real model would charge",
            visible=rec.simulated,
        )

    def _set(self, key: str, text: str, tip: str, *, visible: bool = True) -> None:
        label = self.labels[key]
        label.setText(text)
        label.setToolTip(tip)
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


def _cache_text(rec: RequestRecord) -> str:
    if rec.cache_outcome in ("semantic", "fallback") and rec.cache_similarity is not None:
        return f"cache: {rec.cache_outcome} (similarity {rec.cache_similarity:.2f})"
    return f"cache: {rec.cache_outcome}"


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


def _cost_tip(rec: RequestRecord) -> str:
    if not rec.cost_known or rec.cost_usd is None:
        return "No known price for this model: the cost is unknown"
    return "Exact cost at the price table's rates"


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
