"""The router: explicit features, configurable weights, reasons, explicit bypass."""

from __future__ import annotations

import pytest

from core.config import CentwiseConfig, parse_config
from core.errors import InputError
from core.routing.features import extract_features
from core.routing.router import TierRouter


def _features(reasons: list[dict[str, object]]) -> dict[str, object]:
    return {str(r["feature"]): r["value"] for r in reasons}


def test_simple_prompt_goes_to_fast_with_reasons():
    d = TierRouter(CentwiseConfig()).route("Name a colour.", 4)
    assert d.tier.id == "fast" and d.mode == "auto"
    assert [r["feature"] for r in d.reasons] == ["length"]


def test_reasoning_and_code_raise_the_tier_and_reasons_add_up():
    prompt = "Analyze and compare these two functions, then derive the complexity:\n```py\nx=1\n```"
    d = TierRouter(CentwiseConfig()).route(prompt, 40)
    assert d.tier.id in ("balanced", "premium")
    assert {"reasoning_verbs", "code_blocks", "multi_step"} <= set(_features(d.reasons))
    assert d.score == pytest.approx(sum(r["contribution"] for r in d.reasons))
    contributions = [r["contribution"] for r in d.reasons]
    assert contributions == sorted(contributions, reverse=True)


@pytest.mark.parametrize(
    ("prompt", "hits"),
    [
        ("psychoanalyze this", False),
        ("ANALYZE this", True),
        ("Analyse it.", True),
        ("reanalyzed", False),
        ("comparison shopping", False),
        ("Compare: A, B", True),
        ("Explain why the sky is blue", True),
        ("explain whyever", False),
        ("improve it", False),
        ("Prove it", True),
    ],
)
def test_reasoning_verbs_match_whole_words_case_insensitively(prompt, hits):
    _, reasons = TierRouter(CentwiseConfig()).score(prompt, 3)
    assert ("reasoning_verbs" in _features(reasons)) is hits


def test_every_feature_is_measured():
    f = extract_features(
        "1. Read the contract.\n2. Then compute 3 + 4 = 7 and solve the equation?\n"
        "Is the medication safe? Return JSON.\n```sql\nselect 1\n```",
        120,
        depth=3,
    )
    assert f.steps == 3  # two numbered lines and one "then"
    assert f.questions == 2 and f.code_blocks == 1 and f.depth == 3
    assert f.structured == ("json",)
    assert f.high_stakes == ("legal", "medical")
    assert f.math >= 3  # "=", arithmetic, "solve", "equation"
    assert f.length_tokens == 120


def test_no_false_positives_from_substrings():
    f = extract_features("The therapist's attachment theory; a taxonomy of legalese", 10)
    assert f.high_stakes == () and f.steps == 0 and f.math == 0


def test_conversation_depth_counts():
    router = TierRouter(CentwiseConfig())
    shallow, _ = router.score("ok", 1, depth=0)
    deep, reasons = router.score("ok", 1, depth=4)
    assert deep == pytest.approx(shallow + 1.0)
    assert _features(reasons)["conversation_depth"] == 4


def test_weights_and_boundaries_come_from_the_config():
    text = """
[routing.weights]
reasoning_verbs = { per = 5.0, max = 5.0 }
length = { per = 0, max = 0 }
[[routing.tiers]]
id = "cheap"
provider = "simulator"
model = "gpt-4.1-nano"
max_complexity = 4.5
[[routing.tiers]]
id = "best"
provider = "simulator"
model = "gpt-4.1"
max_complexity = 10
"""
    router = TierRouter(parse_config(text))
    d = router.route("compare them", 5000)
    assert d.score == 5.0 and d.tier.id == "best"
    assert d.reasons == [{"feature": "reasoning_verbs", "value": ["compare"], "contribution": 5.0}]
    assert router.route("hello there", 5000).tier.id == "cheap"


def test_score_is_capped_at_ten_and_each_feature_at_its_max():
    prompt = (
        "analyze compare derive prove evaluate critique justify; legal, medical, tax safety. "
        "Then solve 3 + 4 = x and return JSON?\n```py\n```\n```py\n```\n" * 5 + "?" * 40
    )
    score, reasons = TierRouter(CentwiseConfig()).score(prompt, 100000)
    assert score == 10.0
    weights = CentwiseConfig().routing.weights
    for r in reasons:
        assert r["contribution"] <= getattr(weights, str(r["feature"])).max


def test_explicit_tier_model_and_provider_model():
    router = TierRouter(CentwiseConfig())
    assert router.route("x", 1, "premium").mode == "explicit"
    assert router.route("x", 1, "premium").reasons == []
    assert router.route("x", 1, "gpt-4.1-nano").tier.id == "fast"
    d = router.route("x", 1, "simulator/claude-haiku-4-5")
    assert (d.provider, d.model, d.mode) == ("simulator", "claude-haiku-4-5", "explicit")
    with pytest.raises(InputError, match="unknown model"):
        router.route("x", 1, "nonsense")


def test_routing_disabled_uses_the_top_tier():
    d = TierRouter(parse_config("[routing]\nenabled = false\n")).route("hi", 1)
    assert d.tier.id == "premium" and d.mode == "disabled"


def test_bad_weights_and_judge_tier_are_config_errors():
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"routing\.weights\.math"):
        parse_config("[routing.weights]\nmath = { per = -1, max = 2 }\n")
    with pytest.raises(ConfigError, match="judge_tier 'nope'"):
        parse_config('[routing]\njudge_tier = "nope"\n')
