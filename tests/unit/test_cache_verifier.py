"""The learned pair verifier, per-entry thresholds from evidence, and their storage.

Real MiniLM and the shipped verifier model (no test double): the scores asserted here
are what users get.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.cache.db import SCHEMA_VERSION
from core.cache.evidence import RAISE_STEP, Evidence, entry_threshold
from core.cache.minilm import MiniLMEmbedder, TokenStates
from core.cache.store import SemanticCache
from core.cache.tune import parse_pairs
from core.cache.verifier import CurvePoint, PairVerifier, VerifierModel, load_model
from core.cache.verifier_training import Settings, fit_ensemble, out_of_fold_scores
from core.config import CentwiseConfig
from core.errors import ConfigError, InputError
from core.types import Usage

NOW = 1_700_000_000.0
NS = "ns"
CACHED = "How long do cats live?"
PARAPHRASE = "What is the average lifespan of a cat?"
OTHER = "How long do dogs live?"


@pytest.fixture(scope="module")
def verifier() -> PairVerifier:
    return PairVerifier(MiniLMEmbedder())


@pytest.fixture
def cache(tmp_path: Path, verifier: PairVerifier) -> Iterator[SemanticCache]:
    with SemanticCache(
        tmp_path / "cache.sqlite",
        verifier.embedder,
        ttl_seconds=None,
        verifier=verifier,
        max_error_rate=0.01,
    ) as c:
        yield c


def _put(cache: SemanticCache, prompt: str) -> int:
    entry = cache.store(
        prompt, NS, None, "about 15 years", "m", "fast", 0, "req-orig", Usage(10, 5),
        Decimal("0.0001"), "stop", NOW,
    )  # fmt: skip
    assert entry is not None
    return entry


def _get(cache: SemanticCache, prompt: str, request_id: str) -> Any:
    return cache.lookup_detailed(prompt, NS, 0, NOW + 1, 0.5, request_id=request_id)


def test_scores_separate_a_paraphrase_from_a_changed_entity(verifier: PairVerifier) -> None:
    same, other = verifier.score(CACHED, [PARAPHRASE, OTHER])
    assert same.score > verifier.model.threshold_for(0.01) > other.score
    assert not other.guard_reasons  # cats vs dogs: no rule catches it, the model does
    (swapped,) = verifier.score("Convert 100 USD to EUR", ["Convert 100 EUR to USD"])
    assert swapped.score < 0.5 and swapped.guard_reasons  # the rules' finding explains it


def test_a_paraphrase_is_served_and_filed_as_evidence(cache: SemanticCache) -> None:
    entry = _put(cache, CACHED)
    result = _get(cache, PARAPHRASE, "req-new")
    assert result.hit is not None and result.hit.entry_id == entry
    assert result.hit.score is not None and result.hit.score >= cache.serve_threshold
    (ev,) = cache.evidence(entry)
    assert (ev.request_id, ev.correct, ev.source) == ("req-new", None, "served")


def test_a_hard_negative_is_refused_with_the_verifier_score(cache: SemanticCache) -> None:
    _put(cache, CACHED)
    result = _get(cache, OTHER, "req-dog")
    assert result.hit is None
    (rejection,) = result.rejections
    assert rejection.score is not None and rejection.score < cache.serve_threshold
    assert rejection.reasons[0].startswith("verifier: score")


def test_a_wrong_serve_raises_that_entry_threshold(cache: SemanticCache) -> None:
    entry = _put(cache, CACHED)
    served = _get(cache, PARAPHRASE, "req-1").hit
    assert cache.judge("req-1", correct=False) == 1
    limit = cache.entry_thresholds([entry])[entry]
    assert limit.threshold == pytest.approx(served.score + RAISE_STEP)
    assert limit.wrong == 1 and limit.reason.startswith("raised")
    again = _get(cache, PARAPHRASE, "req-2")
    assert again.hit is None
    assert "raised" in again.rejections[0].reasons[0]


def test_rules_mode_without_verifier_keeps_the_guard(tmp_path: Path) -> None:
    model = MiniLMEmbedder()
    with SemanticCache(tmp_path / "c.sqlite", model, ttl_seconds=None) as c:
        _put(c, "Convert 100 USD to EUR")
        result = c.lookup_detailed("Convert 100 EUR to USD", NS, 0, NOW + 1, 0.5)
    assert result.hit is None and result.rejections[0].score is None
    assert any(
        r.startswith("direction") or r.startswith("number") for r in result.rejections[0].reasons
    )


def _ev(score: float, correct: bool | None) -> Evidence:
    return Evidence(1, None, NOW, score, correct, "judge")


def test_entry_threshold_rules() -> None:
    assert entry_threshold([], 0.9, 0.01).reason == "shared"
    assert entry_threshold([_ev(0.95, None)], 0.9, 0.01).threshold == 0.9  # unknown: ignored
    raised = entry_threshold([_ev(0.97, False)], 0.9, 0.01)
    assert raised.threshold == pytest.approx(0.98)
    # The rule of three: 3 / 0.1 = 30 right serves at or above a score, none wrong.
    rights = [_ev(0.8 + i / 1000, True) for i in range(30)]
    assert entry_threshold(rights[:29], 0.9, 0.1).threshold == 0.9
    lowered = entry_threshold(rights, 0.9, 0.1)
    assert lowered.threshold == pytest.approx(0.8) and lowered.reason.startswith("lowered")
    assert entry_threshold([*rights, _ev(0.85, False)], 0.9, 0.1).threshold == 0.9


def test_an_old_cache_file_is_migrated(tmp_path: Path, verifier: PairVerifier) -> None:
    path = tmp_path / "old.sqlite"
    with SemanticCache(path, verifier.embedder, ttl_seconds=None) as c:
        _put(c, CACHED)
    conn = sqlite3.connect(path)  # back to version 1: no evidence, no net savings
    conn.execute("DROP TABLE cache_evidence")
    conn.execute("ALTER TABLE cache_entries DROP COLUMN saved_pusd")
    conn.execute("UPDATE cache_entries SET hits = 2")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SemanticCache(path, verifier.embedder, ttl_seconds=None, verifier=verifier) as c:
        assert c.count() == 1
        (entry,) = c.entries()
        assert entry.saved_usd == 2 * Decimal("0.0001")  # old hits saved their full cost
        assert _get(c, PARAPHRASE, "req-x").hit is not None
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_threshold_for_keeps_a_margin_under_the_bound() -> None:
    curve = (CurvePoint(0.8, 0.5, 0.02), CurvePoint(0.9, 0.3, 0.006), CurvePoint(0.95, 0.2, 0.0))
    model = VerifierModel((), (), (), (), curve)
    assert model.threshold_for(0.02) == 0.9  # 0.8 has 2% false hits: not within half
    assert model.threshold_for(0.001) == 0.95
    assert VerifierModel((), (), (), (), curve[:1]).threshold_for(0.01) == 1.0


def test_a_damaged_model_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not JSON"):
        load_model(bad)
    data = load_model().to_json()
    data["features"] = data["features"][:-1]
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="other features"):
        load_model(bad)


def test_the_shipped_model_says_what_it_was_trained_on() -> None:
    model = load_model()
    assert model.trained_on["pairs"] >= 500
    assert "handwritten-b-money-law-work" not in model.trained_on["sources"]  # a test source
    assert 0.5 < model.threshold_for(0.01) < 1.0


def test_the_ensemble_learns_an_interaction_and_needs_two_sources() -> None:
    # Same only when both flags are set: no single feature, nor their sum, decides.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(400, 3)).astype(float) + 0.05 * rng.normal(size=(400, 3))
    y = ((x[:, 0] > 0.5) & (x[:, 1] > 0.5)).astype(float)
    quick = Settings(steps=800, members=2)
    oof = out_of_fold_scores(x, y, ["a"] * 200 + ["b"] * 200, quick)
    assert ((oof > 0.5) == (y == 1)).mean() > 0.97
    _, _, members = fit_ensemble(x, y, quick)
    again = fit_ensemble(x, y, quick)
    assert members == again[2]  # fixed seeds: the same pairs give the same model
    with pytest.raises(InputError, match="two sources"):
        out_of_fold_scores(x, y, ["a"] * 400, quick)


def test_verify_tier_must_name_a_tier() -> None:
    with pytest.raises(ValueError, match=r"cache\.verify_tier"):
        CentwiseConfig.model_validate({"cache": {"verify_tier": "nope"}})


def test_pairs_keep_their_source() -> None:
    line = '{"a": "x", "b": "y", "same": true, "source": "batch-g"}\n{"a": "x", "b": "z", "same": false}'
    first, second = parse_pairs(line)
    assert (first.source, second.source) == ("batch-g", None)


class CountingMiniLM(MiniLMEmbedder):
    """The real model, counting the texts it encodes into token states."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []

    def token_states(self, texts: Sequence[str]) -> list[TokenStates]:
        self.encoded += list(texts)
        return super().token_states(texts)


def test_a_prompt_is_encoded_once_for_search_and_verifier() -> None:
    model = CountingMiniLM()
    v = PairVerifier(model, memory=2)
    vector = v.embed(CACHED)
    assert np.allclose(vector, model.embed([CACHED])[0], atol=1e-5)  # what search uses
    v.score(CACHED, [PARAPHRASE])
    assert model.encoded == [CACHED, PARAPHRASE]  # the query came from memory
    v.score(OTHER, [PARAPHRASE])  # memory holds two texts: CACHED is dropped
    v.score(CACHED, [PARAPHRASE])
    assert model.encoded == [CACHED, PARAPHRASE, OTHER, CACHED]


def test_rules_mode_serves_at_the_threshold_the_guard_was_measured_with() -> None:
    rules = CentwiseConfig.model_validate({"cache": {"verifier": "rules"}}).cache
    assert rules.similarity_threshold == 0.84
    chosen = {"verifier": "rules", "similarity_threshold": 0.9}
    assert CentwiseConfig.model_validate({"cache": chosen}).cache.similarity_threshold == 0.9
    assert CentwiseConfig.model_validate({}).cache.similarity_threshold == 0.75
