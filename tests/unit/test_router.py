"""The foundation router: scores with reasons, explicit choices bypass it."""

from __future__ import annotations

import pytest

from core.config import CentwiseConfig, parse_config
from core.errors import InputError
from core.router import TierRouter


def test_simple_prompt_goes_to_fast_with_reasons():
    d = TierRouter(CentwiseConfig()).route("What is 2+2?", 6)
    assert d.tier.id == "fast" and d.mode == "auto"
    assert d.reasons and d.reasons[0]["feature"] == "length_tokens"


def test_reasoning_and_code_raise_the_tier():
    prompt = "Analyze and compare these two functions, then derive the complexity:\n```py\nx=1\n```"
    d = TierRouter(CentwiseConfig()).route(prompt, 40)
    assert d.tier.id in ("balanced", "premium")
    features = {r["feature"] for r in d.reasons}
    assert {"reasoning_verbs", "code_blocks", "multi_step"} <= features
    assert d.score == pytest.approx(sum(r["contribution"] for r in d.reasons))


def test_reasoning_words_match_whole_words_only():
    router = TierRouter(CentwiseConfig())
    _, reasons = router.score("psychoanalyze this", 3)
    assert "reasoning_verbs" not in {r["feature"] for r in reasons}
    _, reasons = router.score("ANALYZE this", 3)
    assert "reasoning_verbs" in {r["feature"] for r in reasons}


def test_explicit_tier_model_and_provider_model():
    router = TierRouter(CentwiseConfig())
    assert router.route("x", 1, "premium").mode == "explicit"
    assert router.route("x", 1, "gpt-4.1-nano").tier.id == "fast"
    d = router.route("x", 1, "simulator/claude-haiku-4-5")
    assert (d.provider, d.model, d.mode) == ("simulator", "claude-haiku-4-5", "explicit")
    with pytest.raises(InputError, match="unknown model"):
        router.route("x", 1, "nonsense")


def test_routing_disabled_uses_the_top_tier():
    d = TierRouter(parse_config("[routing]\nenabled = false\n")).route("hi", 1)
    assert d.tier.id == "premium" and d.mode == "disabled"
