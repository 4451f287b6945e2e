"""SemanticCache: lookup order, namespaces, quality floor, TTL, LRU, never-cache rules,
mark_bad, a corrupt file kept aside, the index rebuilt on reopen, two instances.

Embeddings come from ``BagOfWords``, a TEST DOUBLE (hashed word counts): it makes
similarity predictable without the real model. It never ships in ``core/``.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.cache.embedder import Vectors, l2_normalise
from core.cache.entries import VerifierVerdict, namespace_for, normalize_prompt
from core.cache.store import SemanticCache
from core.types import Message, Usage

NOW = 1_700_000_000.0
NS = "ns-test"


class BagOfWords:
    """Test double: hashed bag-of-words counts, L2-normalised."""

    name = "bag-of-words-test-double"
    dim = 512

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1
        return l2_normalise(out)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cache.sqlite"


@pytest.fixture
def cache(path: Path) -> Iterator[SemanticCache]:
    with SemanticCache(path, BagOfWords()) as c:
        yield c


def put(cache: SemanticCache, prompt: str, response: str = "answer", **kw: Any) -> int | None:
    args: dict[str, Any] = {
        "namespace": NS,
        "embedding": None,
        "response": response,
        "model": "gpt-4.1-mini",
        "tier": "balanced",
        "tier_rank": 1,
        "request_id": f"req-{prompt}",
        "usage": Usage(100, 20),
        "cost": Decimal("0.000123"),
        "finish_reason": "stop",
        "now": NOW,
    }
    args.update(kw)
    return cache.store(prompt, **args)


def get(cache: SemanticCache, prompt: str, **kw: Any) -> Any:
    args: dict[str, Any] = {"namespace": NS, "tier_rank": 1, "now": NOW + 1, "threshold": 0.8}
    args.update(kw)
    return cache.lookup(prompt, **args)


PROMPT = "how do I sort a list of numbers in python quickly"
NEAR = "how do I sort a list of numbers in python fast"  # cosine 0.9 under the double


def test_exact_match_wins_and_ignores_case_space_and_trailing_punctuation(
    cache: SemanticCache,
) -> None:
    put(cache, NEAR, "near")
    put(cache, PROMPT, "exact")
    hit = get(cache, "  How do I sort a LIST of numbers in python   quickly?!")
    assert hit is not None
    assert (hit.outcome, hit.response, hit.similarity) == ("exact", "exact", 1.0)
    assert hit.request_id == f"req-{PROMPT}"
    assert hit.usage == Usage(100, 20)
    assert hit.cost_usd == Decimal("0.000123")


def test_exact_match_does_not_embed(path: Path) -> None:
    embedder = BagOfWords()
    with SemanticCache(path, embedder) as c:
        put(c, PROMPT, embedding=embedder.embed([PROMPT])[0])
        calls = embedder.calls
        assert get(c, PROMPT) is not None
        assert embedder.calls == calls


def test_semantic_hit_above_threshold_and_miss_below(cache: SemanticCache) -> None:
    put(cache, PROMPT)
    hit = get(cache, NEAR, threshold=0.85)
    assert hit is not None and hit.outcome == "semantic"
    assert 0.85 <= hit.similarity < 1.0
    assert get(cache, NEAR, threshold=0.95) is None


def test_lookup_embedding_uses_the_given_vector(cache: SemanticCache) -> None:
    put(cache, PROMPT)
    far = BagOfWords().embed(["completely different words here"])[0]
    args = {"namespace": NS, "tier_rank": 1, "now": NOW + 1, "threshold": 0.8}
    assert cache.lookup_detailed(NEAR, embedding=far, **args).hit is None
    near = BagOfWords().embed([NEAR])[0]
    assert cache.lookup_detailed(NEAR, embedding=near, **args).hit is not None


def test_guard_rejects_and_says_why_then_next_candidate_serves(cache: SemanticCache) -> None:
    put(cache, "convert 100 USD to EUR today", "wrong way round")
    put(cache, "convert 100 EUR to USD for me", "right")
    result = cache.lookup_detailed("convert 100 EUR to USD today", NS, 1, NOW + 1, 0.6)
    assert result.hit is not None and result.hit.response == "right"
    [rejection] = result.rejections
    assert rejection.prompt == "convert 100 USD to EUR today"
    assert any(r.startswith("direction:") for r in rejection.reasons)
    assert rejection.similarity > result.hit.similarity  # tried in similarity order


def test_guard_rejection_alone_is_a_miss(cache: SemanticCache) -> None:
    put(cache, "convert 100 USD to EUR")
    assert get(cache, "convert 200 USD to EUR", threshold=0.5) is None


def test_namespaces_are_never_crossed(cache: SemanticCache) -> None:
    put(cache, PROMPT, namespace="ns-a")
    assert get(cache, PROMPT, namespace="ns-b") is None
    assert get(cache, NEAR, namespace="ns-b") is None
    assert get(cache, PROMPT, namespace="ns-a") is not None


def test_quality_floor_never_serves_a_lower_tier(cache: SemanticCache) -> None:
    put(cache, PROMPT, tier="fast", tier_rank=0)
    assert get(cache, PROMPT, tier_rank=2) is None
    assert get(cache, NEAR, tier_rank=2) is None
    assert get(cache, PROMPT, tier_rank=0) is not None
    put(cache, "what is a monad", tier="premium", tier_rank=2)
    assert get(cache, "what is a monad", tier_rank=0) is not None


def test_expired_entries_are_never_served(cache: SemanticCache) -> None:
    put(cache, PROMPT, ttl_seconds=60)
    assert get(cache, PROMPT, now=NOW + 59) is not None
    assert get(cache, PROMPT, now=NOW + 60) is None
    assert get(cache, NEAR, now=NOW + 61) is None


def test_default_ttl_and_no_expiry(path: Path) -> None:
    with SemanticCache(path, BagOfWords(), ttl_seconds=10) as c:
        put(c, PROMPT)
        put(c, "kept forever", ttl_seconds=None)
        assert get(c, PROMPT, now=NOW + 11) is None
        assert get(c, "kept forever", now=NOW + 10**9) is not None


@pytest.mark.parametrize(
    ("status", "finish", "response"),
    [
        ("error", "stop", "partial"),
        ("cancelled", None, "half an ans"),
        ("ok", "length", "truncated output"),
        ("ok", "content_filter", "x"),
        ("ok", "stop", "   "),
    ],
)
def test_never_cache_rules(
    cache: SemanticCache, status: str, finish: str | None, response: str
) -> None:
    assert put(cache, PROMPT, response, status=status, finish_reason=finish) is None
    assert cache.count() == 0


def test_lru_eviction_drops_the_least_recently_used(path: Path) -> None:
    with SemanticCache(path, BagOfWords(), max_entries=3) as c:
        first = put(c, "alpha prompt", now=NOW)
        second = put(c, "bravo prompt", now=NOW + 1)
        put(c, "charlie prompt", now=NOW + 2)
        assert get(c, "alpha prompt", now=NOW + 3) is not None  # alpha is now recent
        put(c, "delta prompt", now=NOW + 4)
        ids = {e.id for e in c.entries()}
        assert first in ids and second not in ids
        assert c.count() == 3
        assert get(c, "bravo prompt", now=NOW + 5) is None


def test_hits_are_counted_and_stats_add_savings_exactly(cache: SemanticCache) -> None:
    put(cache, PROMPT, cost=Decimal("0.000000000001"))
    put(cache, "unknown cost prompt", cost=None)
    for _ in range(3):
        assert get(cache, PROMPT) is not None
    assert get(cache, "unknown cost prompt") is not None
    [entry] = [e for e in cache.entries() if e.prompt == PROMPT]
    assert entry.hits == 3 and entry.last_hit_at == NOW + 1
    # The pipeline credits each hit with what it saved net of the cache's own spend.
    for net in ("0.000000000003", "0.000000000003", "-0.000000000001"):
        cache.add_saving(entry.id, Decimal(net))
    [ns] = cache.stats().namespaces
    assert (ns.entries, ns.hits, ns.hits_unknown_cost) == (2, 4, 1)
    assert ns.saved_usd == Decimal("0.000000000005")
    [entry] = [e for e in cache.entries() if e.prompt == PROMPT]
    assert entry.saved_usd == Decimal("0.000000000005")


def test_mark_bad_invalidates(cache: SemanticCache) -> None:
    put(cache, PROMPT, request_id="r-1")
    assert cache.mark_bad("r-1") == 1
    assert get(cache, PROMPT) is None
    assert get(cache, NEAR) is None
    assert cache.stats().namespaces[0].bad == 1


def test_evict_and_clear(cache: SemanticCache) -> None:
    one = put(cache, PROMPT, namespace="a")
    put(cache, "another prompt", namespace="b")
    assert one is not None and cache.evict(one) and not cache.evict(one)
    assert get(cache, PROMPT, namespace="a") is None
    put(cache, PROMPT, namespace="a")
    assert cache.clear("a") == 1
    assert cache.count() == 1 and get(cache, "another prompt", namespace="b") is not None
    assert cache.clear() == 1 and cache.count() == 0


def test_restoring_a_prompt_replaces_the_older_answer(cache: SemanticCache) -> None:
    put(cache, PROMPT, "old", tier_rank=1)
    put(cache, PROMPT, "new", tier_rank=2)
    assert cache.count() == 1
    assert get(cache, PROMPT).response == "new"


def test_max_output_tokens_filters_longer_answers(cache: SemanticCache) -> None:
    put(cache, PROMPT, usage=Usage(10, 500))
    assert get(cache, PROMPT, max_output_tokens=100) is None
    assert get(cache, PROMPT, max_output_tokens=500) is not None


def test_index_is_rebuilt_on_reopen(path: Path) -> None:
    with SemanticCache(path, BagOfWords()) as c:
        put(c, PROMPT)
    with SemanticCache(path, BagOfWords()) as c:
        hit = get(c, NEAR)
        assert hit is not None and hit.outcome == "semantic"


def test_another_instance_sees_inserts_and_clears(path: Path) -> None:
    with SemanticCache(path, BagOfWords()) as a, SemanticCache(path, BagOfWords()) as b:
        assert get(b, NEAR) is None  # b has loaded the empty table
        put(a, PROMPT)
        hit = get(b, NEAR)
        assert hit is not None and hit.outcome == "semantic"
        a.clear()
        assert get(b, NEAR) is None
        put(a, "fresh prompt about rust lifetimes")
        assert get(b, "fresh prompt about rust lifetimes please") is not None


def test_another_instances_mark_bad_is_honoured(path: Path) -> None:
    with SemanticCache(path, BagOfWords()) as a, SemanticCache(path, BagOfWords()) as b:
        put(a, PROMPT, request_id="r-9")
        assert get(b, NEAR) is not None
        a.mark_bad("r-9")
        assert get(b, NEAR) is None


def test_garbage_file_is_kept_aside_and_cache_starts_empty(path: Path) -> None:
    path.write_bytes(b"this is not a database at all " * 100)
    with SemanticCache(path, BagOfWords()) as c:
        assert c.count() == 0
        [warning] = c.warnings
        assert "kept it as cache.sqlite.corrupt-" in warning
        assert put(c, PROMPT) is not None
    [aside] = path.parent.glob("cache.sqlite.corrupt-*")
    assert aside.read_bytes().startswith(b"this is not a database")


def test_other_programs_database_is_kept_aside(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ledger (x)")
    conn.close()
    with SemanticCache(path, BagOfWords()) as c:
        assert "another program" in c.warnings[0]
    assert len(list(path.parent.glob("cache.sqlite.corrupt-*"))) == 1


def test_newer_schema_is_kept_aside(path: Path) -> None:
    SemanticCache(path, BagOfWords()).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with SemanticCache(path, BagOfWords()) as c:
        assert "newer" in c.warnings[0]


def test_entries_page_and_search(cache: SemanticCache) -> None:
    for i, word in enumerate(["apple", "banana", "cherry"]):
        put(cache, f"tell me about {word} pie", now=NOW + i)
    page = cache.entries(offset=0, limit=2)
    assert [e.prompt for e in page] == ["tell me about cherry pie", "tell me about banana pie"]
    assert cache.entries(offset=2, limit=2)[0].prompt == "tell me about apple pie"
    [best, *_] = cache.search("banana pie", k=3)
    assert best.entry.prompt == "tell me about banana pie"


async def test_alookup_with_verifier_reports_cost(cache: SemanticCache) -> None:
    put(cache, PROMPT)
    calls: list[tuple[str, str, str]] = []

    async def say(same: bool) -> Any:
        async def verifier(new: str, old: str, response: str) -> VerifierVerdict:
            calls.append((new, old, response))
            return VerifierVerdict(same, Decimal("0.00001"))

        return verifier

    yes = await cache.alookup(NEAR, NS, 1, NOW + 1, 0.8, verifier=await say(True))
    assert yes.hit is not None and yes.verifier_calls == 1
    assert yes.verifier_cost_usd == Decimal("0.00001")
    no = await cache.alookup(NEAR, NS, 1, NOW + 1, 0.8, verifier=await say(False))
    assert no.hit is None and no.rejections[0].reasons[0].startswith("verifier:")
    exact = await cache.alookup(PROMPT, NS, 1, NOW + 1, 0.8, verifier=await say(False))
    assert exact.hit is not None and exact.verifier_calls == 0
    assert calls == [(NEAR, PROMPT, "answer")] * 2


def test_namespace_for_hashes_what_changes_the_answer() -> None:
    hist = [Message("user", "hi"), Message("assistant", "hello")]
    base = namespace_for("be brief", hist, None, None, 0.2)
    assert base is not None and base == namespace_for("be brief", list(hist), None, None, 0.5)
    others = {
        namespace_for("be verbose", hist),
        namespace_for("be brief", hist[:1]),
        namespace_for("be brief", hist, response_format="json"),
        namespace_for("be brief", hist, tools='[{"name": "f"}]'),
    }
    assert base not in others and len(others) == 4


def test_hot_temperature_is_not_cacheable_unless_opted_in() -> None:
    assert namespace_for(None, [], temperature=0.7) is not None
    assert namespace_for(None, [], temperature=0.9) is None
    assert namespace_for(None, [], temperature=0.9, cacheable_max_temperature=1.0) is not None


def test_normalize_prompt() -> None:
    assert normalize_prompt("  Ｈello\tWORLD ?! ") == "hello world"
    assert normalize_prompt("Straße.") == "strasse"


def test_other_instances_bulk_clear_rebuilds_the_mirror(path: Path) -> None:
    with SemanticCache(path, BagOfWords()) as a, SemanticCache(path, BagOfWords()) as b:
        put(a, PROMPT)
        assert get(b, NEAR) is not None
        a.clear()
        assert get(b, "nothing like it at all") is None  # no candidate touched the old row
        assert len(b._mirror) == 0  # white box: dropped by the generation bump


def test_stale_vectors_of_deleted_rows_are_dropped_when_met(path: Path) -> None:
    with SemanticCache(path, BagOfWords()) as a, SemanticCache(path, BagOfWords()) as b:
        entry_id = put(a, PROMPT)
        assert entry_id is not None and get(b, NEAR) is not None
        a.evict(entry_id)  # single deletes are not announced to other processes
        assert len(b._mirror) == 1
        assert get(b, NEAR) is None
        assert len(b._mirror) == 0  # white box: forgotten once the lookup met it


def test_damaged_pages_are_kept_aside_after_retries(path: Path) -> None:
    with SemanticCache(path, BagOfWords()) as c:
        for i in range(200):
            put(c, f"prompt number {i} " + "padding " * 40)
    data = bytearray(path.read_bytes())
    assert len(data) > 8192
    data[4096:8192] = b"\xa5" * 4096  # keep the header, wreck the pages after it
    path.write_bytes(bytes(data))
    with SemanticCache(path, BagOfWords()) as c:
        assert c.count() == 0
        assert c.warnings and "kept it as" in c.warnings[0]


def test_a_passing_problem_is_retried_not_kept_aside(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process may be mid-write: 'damaged' or 'busy' is looked at again."""
    from core.cache import db

    real_open = db._open
    failures = iter([db.NotACacheError("is damaged", definitive=False)] * 2)

    def flaky_open(p: Path) -> sqlite3.Connection:
        err = next(failures, None)
        if err is not None:
            raise err
        return real_open(p)

    monkeypatch.setattr(db, "_open", flaky_open)
    monkeypatch.setattr(db.time, "sleep", lambda s: None)
    with SemanticCache(path, BagOfWords()) as c:
        assert c.warnings == []
    assert not list(path.parent.glob("*.corrupt-*"))


def test_creating_a_file_never_replaces_one_that_appeared(path: Path) -> None:
    from core.cache import db

    with SemanticCache(path, BagOfWords()) as c:
        put(c, PROMPT)
    db._create_atomically(path)  # lost the race: the existing cache must survive
    with SemanticCache(path, BagOfWords()) as c:
        assert c.count() == 1
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
