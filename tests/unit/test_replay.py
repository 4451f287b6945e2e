"""What-if replay: known answers on synthetic histories, and exactness on a real one."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from contextlib import redirect_stdout
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from core.accounting.prices import PriceTable, cost_of
from core.cache.embedder import l2_normalise
from core.config import CentwiseConfig, parse_config
from core.engine import Engine
from core.errors import InputError
from core.ledger import Ledger
from core.ledger.postgres import PgLedger
from core.ledger.selection import ENV_URL
from core.replay import sources
from core.replay.quality import load_quality_samples
from core.types import Message, RequestRecord, Usage
from tests.conftest import INSTANT_SIM

MODELS = {"fast": "gpt-4.1-nano", "balanced": "gpt-4.1-mini", "premium": "gpt-4.1"}
DAY = 86_400.0
T0 = time.mktime((2026, 11, 2, 9, 0, 0, 0, 0, -1))


class FakeEmbedder:
    """Paraphrases (the same words in any order) embed close together; others far."""

    name = "fake"
    dim = 384

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = []
        for text in texts:
            words = sorted(set(text.lower().strip("?!. ").split()) - {"should", "do"})
            base = np.random.default_rng(_seed(" ".join(words))).standard_normal(self.dim)
            noise = np.random.default_rng(_seed(text)).standard_normal(self.dim)
            out.append(base + 0.05 * noise)
        return l2_normalise(np.asarray(out, dtype=np.float32))


def _seed(text: str) -> int:
    return int.from_bytes(text.encode()[:8].ljust(8, b"_"), "big") ^ len(text)


def cfg(extra: str = "") -> CentwiseConfig:
    return parse_config(INSTANT_SIM + extra, "test.toml")


def priced(model: str, usage: Usage) -> Decimal:
    price = PriceTable.bundled().lookup(model)
    assert price is not None
    cost = cost_of(usage, price)
    assert cost is not None
    return cost


def record(i: int, tier: str, prompt: str, t: float, **kw: object) -> RequestRecord:
    usage = Usage(input_tokens=100 + i, output_tokens=50 + 2 * i, cached_input_tokens=i % 7)
    hit = kw.get("cache_outcome", "miss") != "miss"
    base: dict[str, object] = dict(
        request_id=f"req_{i:06d}", started_at=t, finished_at=t + 1, provider="simulator",
        model=MODELS[tier], tier=tier, route_mode="auto", route_score=1.0,
        usage=Usage() if hit else usage, cost_usd=Decimal(0) if hit else priced(MODELS[tier], usage),
        prompt=prompt, response=f"answer {i}", finish_reason="stop",
    )  # fmt: skip
    base.update(kw)
    return RequestRecord(**base)  # type: ignore[arg-type]


def history(n: int = 30) -> list[RequestRecord]:
    """Three days of requests over every tier, with a few hits, an error and a judge call."""
    recs = []
    for i in range(n):
        tier = ("fast", "balanced", "premium")[i % 3]
        recs.append(record(i, tier, f"question number {i} about topic {i % 5}", T0 + i * 7200))
    recs.append(record(900, "fast", "cached one", T0 + 10, cache_outcome="exact",
                       saved_usd=Decimal("0.0001")))  # fmt: skip
    recs.append(record(901, "fast", "failed", T0 + 20, status="error", cost_usd=Decimal(0)))
    recs.append(record(902, "premium", "judge this", T0 + 30, purpose="judge"))
    return recs


@pytest.fixture
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the engines a test makes keep their ledger: SQLite unless the test is
    parametrised (``indirect``) with "postgresql", a database on the suite's server."""
    name = str(getattr(request, "param", "sqlite"))
    if name == "postgresql":
        monkeypatch.setenv(ENV_URL, request.getfixturevalue("pg_url"))
    return name


both_backends = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def engine(tmp_path: Path, backend: str):
    engine = Engine.open(cfg("[cache]\nenabled = true\n"), tmp_path / "data")
    assert engine.ledger.backend == backend
    yield engine
    engine.close()


def user_spend(recs: list[RequestRecord]) -> Decimal:
    return sum((r.cost_usd or Decimal(0) for r in recs if r.purpose == "user"), Decimal(0))


@both_backends
def test_identical_configuration_reproduces_recorded_spend_exactly(engine):
    recs = history()
    engine.ledger.record_many(recs)
    report = engine.replay(cfg("[cache]\nenabled = true\n"), embedder=FakeEmbedder())
    assert report.changed == ()
    assert report.projected_usd == report.actual_usd == user_spend(recs)
    assert report.savings.total_usd == 0 and report.estimated == 0
    assert [(r.actual_usd, r.actual_requests) for r in report.by_day] == [
        (r.projected_usd, r.projected_requests) for r in report.by_day
    ]
    assert report.requests == 31 and report.carried == 1
    assert report.cache.recorded_hits == report.cache.projected_hits == 1
    assert [r.key for r in report.other_purposes] == ["judge"]


async def test_identical_configuration_reproduces_a_real_pipeline_history(make_engine):
    engine = make_engine(cache=True)
    await engine.ask("How do I reverse a list in Python?", model="fast").collect()
    await engine.ask("how do I reverse a list in python", model="fast").collect()
    await engine.ask("Explain why the sky is blue, then compare it with sunsets").collect()
    await engine.ask("Write a haiku", model="simulator/gpt-4.1").collect()
    conv = engine.start_conversation(system="Be brief.")
    for text in ("Hello there", "Tell me about Rome", "And Paris?"):
        await engine.ask(text, conversation_id=conv).collect()
    same = parse_config(INSTANT_SIM, "again.toml")
    report = engine.replay(same)
    assert report.projected_usd == report.actual_usd == engine.ledger.totals().cost_usd
    assert report.savings.total_usd == 0 and report.cache.projected_hits == 1


def test_a_doubled_price_doubles_spend(engine):
    recs = history()
    engine.ledger.record_many(recs)
    table = PriceTable.bundled()
    extra = "[cache]\nenabled = true\n"
    for model in MODELS.values():
        p = table.lookup(model)
        assert p is not None and p.cache_read_input_token_cost is not None
        extra += (
            f'[prices."{model}"]\ninput_cost_per_token = {p.input_cost_per_token * 2}\n'
            f"output_cost_per_token = {p.output_cost_per_token * 2}\n"
            f"cache_read_input_token_cost = {p.cache_read_input_token_cost * 2}\n"
        )
    report = engine.replay(cfg(extra))
    assert report.changed == ("prices",)
    assert report.projected_usd == 2 * report.actual_usd > 0
    assert report.savings.models_prices_usd == -report.actual_usd
    assert report.savings.routing_usd == report.savings.cache_usd == 0


def test_turning_the_cache_off_prices_the_recorded_hits(engine):
    recs = history()
    engine.ledger.record_many(recs)
    report = engine.replay(cfg("[cache]\nenabled = false\n"))
    assert report.cache.recorded_hits == 1 and report.cache.projected_hits == 0
    hit = next(r for r in recs if r.cache_outcome == "exact")
    counted = engine.tokens.count_messages([Message("user", hit.prompt)], "gpt-4.1-nano").tokens
    answer = engine.tokens.count_text(hit.response, "gpt-4.1-nano").tokens
    miss = priced("gpt-4.1-nano", Usage(counted, answer))
    assert report.projected_usd == report.actual_usd + miss
    assert report.savings.cache_usd == -miss and report.estimated == 1


def paraphrase_history() -> list[RequestRecord]:
    prompts = ["how do I boil an egg", "how should I boil an egg", "how do I bake bread",
               "how should I bake bread", "how do I boil an egg"]  # fmt: skip
    return [record(i, "fast", p, T0 + 60 * i) for i, p in enumerate(prompts)]


def test_a_threshold_of_one_gives_no_semantic_hits(engine):
    recs = paraphrase_history()
    engine.ledger.record_many(recs)
    fake = FakeEmbedder()
    loose = engine.replay(cfg("[cache]\nsimilarity_threshold = 0.5\n"), embedder=fake)
    assert loose.cache.simulated and loose.cache.embedded == 5 and fake.calls == 1
    assert (loose.cache.exact_hits, loose.cache.semantic_hits) == (1, 2)
    assert loose.savings.cache_usd == sum((r.cost_usd for r in recs[1:4:2]), Decimal(0)) + (
        recs[4].cost_usd
    )
    strict = engine.replay(cfg("[cache]\nsimilarity_threshold = 1.0\n"), embedder=fake)
    assert strict.cache.semantic_hits == 0 and strict.cache.exact_hits == 1
    off = engine.replay(cfg("[cache]\nenabled = false\n"), embedder=fake)
    assert off.cache.projected_hits == 0 and off.projected_usd == off.actual_usd


def test_ttl_and_tier_floor_limit_the_replayed_cache(engine):
    recs = paraphrase_history()
    recs[4] = record(4, "premium", "how do I boil an egg", T0 + 240)  # above the fast entry
    engine.ledger.record_many(recs)
    report = engine.replay(
        cfg("[cache]\nsimilarity_threshold = 0.5\nttl_seconds = 30\n"), embedder=FakeEmbedder()
    )
    assert report.cache.projected_hits == 0  # every entry expired before its paraphrase


def test_stored_embeddings_are_used_and_none_are_computed(engine):
    recs = paraphrase_history()
    engine.ledger.record_many(recs)
    fake = FakeEmbedder()
    cache = engine.cache()
    for r, vec in zip(recs, fake.embed([r.prompt for r in recs]), strict=True):
        cache.store(r.prompt, "ns-x", vec, r.response, r.model, r.tier, 0, r.request_id,
                    r.usage, r.cost_usd, "stop", r.started_at)  # fmt: skip
    report = engine.replay(cfg("[cache]\nsimilarity_threshold = 0.5\n"), embedder=fake)
    assert report.cache.stored_embeddings >= 3 and report.cache.embedded <= 2
    assert report.cache.semantic_hits == 2


def test_routing_is_rescored_under_new_boundaries(engine):
    recs = history()
    engine.ledger.record_many(recs)
    report = engine.replay(cfg("[cache]\nenabled = true\n[routing]\nenabled = false\n"))
    assert report.changed == ("routing",)
    projected = {r.key: r.projected_requests for r in report.by_tier}
    assert projected == {"fast": 1, "balanced": 0, "premium": 31}  # the error stays put
    auto = [r for r in recs if r.purpose == "user" and r.status == "ok" and r.tier != "premium"]
    expected = sum(
        (priced("gpt-4.1", r.usage) - (r.cost_usd or 0) for r in auto if r.cache_outcome == "miss"),
        Decimal(0),
    )
    assert -report.savings.routing_usd == expected > 0
    assert report.savings.models_prices_usd == 0


def test_another_model_re_estimates_tokens(engine):
    engine.ledger.record_many(history())
    other = cfg(
        "[cache]\nenabled = true\n[[routing.tiers]]\nid = 'fast'\nprovider = 'simulator'\n"
        "model = 'gpt-4'\nmax_complexity = 3\n[[routing.tiers]]\nid = 'balanced'\n"
        "provider = 'simulator'\nmodel = 'gpt-4.1-mini'\nmax_complexity = 6\n"
        "[[routing.tiers]]\nid = 'premium'\nprovider = 'simulator'\nmodel = 'gpt-4.1'\n"
        "max_complexity = 10\n"
    )
    report = engine.replay(other)
    on_gpt4 = {r.key: r.projected_requests for r in report.by_model}["gpt-4"]
    assert report.estimated == on_gpt4 - 1 > 0  # the cache hit stays free, not estimated
    assert report.projected_usd > report.actual_usd


def test_budgets_name_the_days_they_would_refuse(engine):
    recs = history()
    engine.ledger.record_many(recs)
    report = engine.replay(cfg("[cache]\nenabled = true\n[budget]\ndaily_usd = 0.0005\n"))
    assert report.budgets and all(b.budget == "daily" and b.refused > 0 for b in report.budgets)
    assert {b.day for b in report.budgets} <= {r.key for r in report.by_day}
    none = engine.replay(cfg("[cache]\nenabled = true\n[budget]\ndaily_usd = 1000\n"))
    assert none.budgets == []


@both_backends
def test_quality_retention_comes_with_an_interval(engine):
    recs = history()
    engine.ledger.record_many(recs)
    report = engine.replay(cfg("[cache]\nenabled = true\n[routing]\nenabled = false\n"))
    assert report.quality is None and "no judge" in (report.quality_note or "")
    for i, r in enumerate(recs[:12]):
        score = {"fast": 6.0, "balanced": 7.0, "premium": 9.0}[r.tier or ""] + (i % 2)
        engine.quality_store.add_sample(r, score, "", None, "premium", False, r.started_at)
    report = engine.replay(cfg("[cache]\nenabled = true\n[routing]\nenabled = false\n"))
    q = report.quality
    assert q is not None and q.basis == "judge"
    assert q.low <= q.retention <= q.high and q.retention > 1
    assert q.samples == {"balanced": 4, "fast": 4, "premium": 4}


@both_backends
async def test_context_settings_are_reapplied_to_conversations(make_engine, backend):
    engine = make_engine()
    assert engine.ledger.backend == backend
    conv = engine.start_conversation(system="Be brief.")
    for text in ("Hello there", "Tell me about Rome", "And Paris?", "And Berlin?"):
        await engine.ask(text, conversation_id=conv).collect()
    other = parse_config(
        INSTANT_SIM + "[cache]\nenabled = false\n[context]\nmax_history_messages = 0\n"
    )
    report = engine.replay(other)
    assert report.changed == ("context",)
    assert report.savings.context_usd > 0
    assert report.projected_usd == report.actual_usd - report.savings.context_usd


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_ledger_rows_and_quality_data_are_read_on_either_backend(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "sqlite":
        ledger = Ledger.open(tmp_path / "ledger.sqlite")
    else:
        ledger = PgLedger.connect(request.getfixturevalue("pg_url"))
    monkeypatch.setattr(sources, "_BATCH", 4)  # pages end inside runs of equal times
    recs = history(14)
    for i, r in enumerate(recs):
        r.finished_at = T0 + (i // 3) * DAY  # three at a time finish together
    with ledger:
        ledger.record_many(recs)
        expected = [r.request_id for r in ledger.iter_records()]
        got = list(sources.ledger_records(ledger, None))
        assert [r.request_id for r in got] == expected and len(got) == len(recs)
        by_id = {r.request_id: r for r in recs}
        assert all(r.cost_usd == by_id[r.request_id].cost_usd for r in got)
        later = list(sources.ledger_records(ledger, date.fromtimestamp(T0 + 2 * DAY)))
        assert [r.request_id for r in later] == expected[6:]
        assert load_quality_samples(ledger) is None
        with ledger.writing() as conn:
            conn.executemany(
                "INSERT INTO feedback (request_id, tier, verdict, at) VALUES (?, ?, ?, ?)",
                [
                    (r.request_id, r.tier, "up" if i % 2 else "down", T0)
                    for i, r in enumerate(recs[:4])
                ],
            )
        assert load_quality_samples(ledger) == (
            "feedback",
            {"fast": [0.0, 1.0], "balanced": [1.0], "premium": [0.0]},
        )


def write_lines(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_an_imported_file_is_replayed(engine, tmp_path):
    src = write_lines(tmp_path / "calls.jsonl", [
        {"prompt": "how do I boil an egg", "response": "Ten minutes.", "model": "gpt-4.1",
         "input_tokens": 20, "output_tokens": 10, "cost_usd": "0.001",
         "timestamp": "2026-11-02T09:00:00"},
        {"prompt": "how do I boil an egg", "response": "Ten minutes.",
         "timestamp": "2026-11-02T09:01:00"},
    ])  # fmt: skip
    report = engine.replay(engine.config, source=src, embedder=FakeEmbedder())
    assert report.requests == 2 and report.source == str(src)
    assert report.actual_usd > Decimal("0.001")  # the second line priced on its tier
    assert report.cache.exact_hits == 1 and report.savings.cache_usd > 0


def test_an_imported_file_with_errors_names_the_line(engine, tmp_path):
    bad = write_lines(tmp_path / "bad.jsonl", [{"prompt": "hi"}, {"prompt": "x", "colour": 1}])
    with pytest.raises(InputError, match=r"bad.jsonl:2: unknown key 'colour'"):
        engine.replay(engine.config, source=bad)
    with pytest.raises(InputError, match="no such file"):
        engine.replay(engine.config, source=tmp_path / "missing.jsonl")


def test_cli_replay_json_and_config_alias(tmp_path):
    from core.cli import main
    from core.ledger import Ledger

    data = tmp_path / "data"
    data.mkdir()
    with Ledger.open(data / "ledger.sqlite") as ledger:
        ledger.record_many(history())
    other = tmp_path / "other.toml"
    other.write_text(INSTANT_SIM + "[routing]\nenabled = false\n", encoding="utf-8")
    out = io.StringIO()
    report_file = tmp_path / "report.json"
    argv = ["--data-dir", str(data), "replay", "--config", str(other), "--json", "--out",
            str(report_file), "--since", "2026-11-03"]  # fmt: skip
    with redirect_stdout(out):
        assert main(argv) == 0
    got = json.loads(out.getvalue())
    assert got == json.loads(report_file.read_text(encoding="utf-8"))
    assert got["since"] == "2026-11-03" and got["changed"] == ["routing", "providers"]
    assert Decimal(got["projected_usd"]) > Decimal(got["actual_usd"])
    text = io.StringIO()
    with redirect_stdout(text):
        assert main(["--data-dir", str(data), "replay", "--with", str(other)]) == 0
    assert "Projected spend" in text.getvalue() and "routing" in text.getvalue()
