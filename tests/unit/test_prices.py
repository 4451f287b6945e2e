"""Exact prices and costs: the bundled table, overrides, imports and validation."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.accounting.prices import (
    ModelPrice,
    PriceTable,
    cost_of,
    diff_tables,
    import_price_file,
    worst_case_cost,
)
from core.errors import ConfigError
from core.resources import resource_path
from core.types import Usage

D = Decimal


@pytest.fixture(scope="module")
def bundled() -> PriceTable:
    return PriceTable.bundled()


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def _price(**kw: Any) -> ModelPrice:
    base: dict[str, Any] = dict(
        model="m",
        provider=None,
        input_cost_per_token=None,
        output_cost_per_token=None,
        cache_read_input_token_cost=None,
        cache_creation_input_token_cost=None,
        output_cost_per_reasoning_token=None,
        max_input_tokens=None,
        max_output_tokens=None,
    )
    return ModelPrice(**{**base, **kw})


# -- the bundled table -----------------------------------------------------------------

PER_MILLION = {  # (input, output) in $ per million tokens, from the providers' price pages
    "gpt-4.1": ("2", "8"),
    "gpt-4.1-mini": ("0.40", "1.60"),
    "gpt-4.1-nano": ("0.10", "0.40"),
    "gpt-4o": ("2.50", "10"),
    "gpt-4o-mini": ("0.15", "0.60"),
    "gpt-5": ("1.25", "10"),
    "claude-sonnet-4-5": ("3", "15"),
    "claude-opus-4-5": ("5", "25"),
    "claude-haiku-4-5": ("1", "5"),
    "gemini/gemini-2.5-pro": ("1.25", "10"),
    "gemini/gemini-2.5-flash": ("0.30", "2.50"),
}


@pytest.mark.parametrize(("model", "prices"), PER_MILLION.items())
def test_bundled_prices(bundled: PriceTable, model: str, prices: tuple[str, str]) -> None:
    price = bundled.lookup(model)
    assert price is not None and price.known
    assert price.input_cost_per_token == D(prices[0]) / 1_000_000
    assert price.output_cost_per_token == D(prices[1]) / 1_000_000


def test_bundled_table_shape(bundled: PriceTable) -> None:
    assert bundled.source.startswith("litellm ") and "built" in bundled.source
    assert "_centwise_source" not in bundled.models()
    assert bundled.lookup("_centwise_source") is None
    assert all(not m.startswith("_") for m in bundled.models())
    sonnet = bundled.lookup("claude-sonnet-4-5")
    assert sonnet is not None and sonnet.provider == "anthropic"
    assert sonnet.cache_read_input_token_cost == D("3e-7")
    assert sonnet.cache_creation_input_token_cost == D("3.75e-6")
    raw = json.loads(resource_path("model_prices.json").read_text(encoding="utf-8"))
    assert len(raw["_centwise_source"]["wheel_sha256"]) == 64
    assert {e["litellm_provider"] for k, e in raw.items() if not k.startswith("_")} <= {
        "openai",
        "anthropic",
        "gemini",
        "ollama",
    }


def test_resources_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _write(tmp_path / "model_prices.json", {"x": {"input_cost_per_token": 1}})
    monkeypatch.setenv("CENTWISE_RESOURCES", str(tmp_path))
    assert PriceTable.bundled().models() == ["x"]


def test_lookup_variants(bundled: PriceTable) -> None:
    assert bundled.lookup("gemini-2.5-pro", "gemini") == bundled.lookup("gemini/gemini-2.5-pro")
    assert bundled.lookup("gemini-2.5-flash") is not None
    assert bundled.lookup("openai/gpt-4.1") == bundled.lookup("gpt-4.1")
    price = bundled.lookup("llama3", "ollama")
    assert price is not None and price.model == "ollama/llama3"
    assert bundled.lookup("gpt-4.1-2099-01-01") is None  # dated variants are not guessed
    assert bundled.lookup("no-such-model") is None


def test_repeated_lookups_answer_the_same_per_provider_kind_and_stay_bounded() -> None:
    """Lookups are remembered (every request makes one): the remembered answer must be
    the one a fresh table gives, per (model, provider kind), misses included."""
    table = PriceTable(
        {
            "m": {"input_cost_per_token": D("0.000001"), "output_cost_per_token": D("0.000002")},
            "ollama/m2": {"input_cost_per_token": D("0.000003"), "output_cost_per_token": 0},
        },
        "test",
    )
    for _ in range(3):
        first = table.lookup("m")
        assert first is not None and first.input_cost_per_token == D("0.000001")
        assert table.lookup("m2") is None
        via_kind = table.lookup("m2", "ollama")
        assert via_kind is not None and via_kind.model == "ollama/m2"
        assert table.lookup(" m ") == first  # stripped, remembered under its own key
    for i in range(3000):  # names arrive from requests: the memory must stay bounded
        assert table.lookup(f"unknown-{i}") is None
    assert len(table._found) <= 1024
    assert table.lookup("m2", "ollama") == via_kind


# -- cost ------------------------------------------------------------------------------


def test_cost_gpt41(bundled: PriceTable) -> None:
    price = bundled.lookup("gpt-4.1")
    assert price is not None
    assert cost_of(Usage(input_tokens=1000, output_tokens=500), price) == D("0.006")


def test_cost_with_cache_reads_and_writes(bundled: PriceTable) -> None:
    price = bundled.lookup("claude-sonnet-4-5")  # 3 / 15 $/M, read 0.30, write 3.75
    assert price is not None
    usage = Usage(
        input_tokens=10_000,
        output_tokens=1_000,
        cached_input_tokens=6_000,
        cache_write_tokens=2_000,
    )
    # 2000 × 3 + 6000 × 0.30 + 2000 × 3.75 + 1000 × 15 = 6000 + 1800 + 7500 + 15000 per M
    assert cost_of(usage, price) == D("0.0303")


def test_cache_prices_default_to_input_price() -> None:
    price = _price(input_cost_per_token=D("0.000001"), output_cost_per_token=D("0.000002"))
    usage = Usage(input_tokens=100, output_tokens=10, cached_input_tokens=40, cache_write_tokens=20)
    assert cost_of(usage, price) == D("0.00012")


def test_reasoning_priced_apart_without_double_counting(bundled: PriceTable) -> None:
    table = bundled.with_overrides(
        {"gpt-4.1": {"output_cost_per_reasoning_token": "0.00002"}}, "test.toml"
    )
    price = table.lookup("gpt-4.1")
    assert price is not None
    usage = Usage(input_tokens=1000, output_tokens=500, reasoning_tokens=200)
    # 1000 × 2 + 300 × 8 + 200 × 20 per M
    assert cost_of(usage, price) == D("0.0084")
    same = _price(
        input_cost_per_token=D(0),
        output_cost_per_token=D("0.00001"),
        output_cost_per_reasoning_token=D("0.00001"),
    )
    assert cost_of(usage, same) == D("0.005")
    assert worst_case_cost(1000, 500, price) == D("0.012")


def test_unknown_is_none_never_zero(bundled: PriceTable) -> None:
    assert cost_of(Usage(10, 10), _price(input_cost_per_token=D("0.1"))) is None
    assert cost_of(Usage(10, 10), _price(output_cost_per_token=D("0.1"))) is None
    assert worst_case_cost(10, 10, _price()) is None
    assert not _price(input_cost_per_token=D(1)).known


def test_explicit_zero_is_free(bundled: PriceTable) -> None:
    table = bundled.with_overrides(
        {"my-local": {"input_cost_per_token": 0, "output_cost_per_token": 0}}, "c.toml"
    )
    price = table.lookup("my-local")
    assert price is not None and price.known
    assert cost_of(Usage(5000, 5000, 100), price) == 0
    ollama = bundled.lookup("llama3", "ollama")
    assert ollama is not None and cost_of(Usage(1, 1), ollama) == 0


def test_inconsistent_usage_is_refused() -> None:
    price = _price(input_cost_per_token=D(1), output_cost_per_token=D(1))
    with pytest.raises(ValueError, match="inconsistent"):
        cost_of(Usage(input_tokens=10, cached_input_tokens=11), price)
    with pytest.raises(ValueError, match="reasoning"):
        cost_of(Usage(output_tokens=1, reasoning_tokens=2), price)


def test_worst_case(bundled: PriceTable) -> None:
    price = bundled.lookup("gpt-4.1-nano")
    assert price is not None
    assert worst_case_cost(1000, 1000, price) == D("0.0005")


# -- overrides and layering ------------------------------------------------------------


def test_overrides_win_and_keep_other_fields(bundled: PriceTable) -> None:
    table = bundled.with_overrides({"gpt-4.1": {"input_cost_per_token": D("0.000003")}}, "c.toml")
    price = table.lookup("gpt-4.1")
    assert price is not None
    assert price.input_cost_per_token == D("0.000003")
    assert price.output_cost_per_token == D("0.000008")  # untouched field kept
    assert "c.toml" in table.source
    base = bundled.lookup("gpt-4.1")
    assert base is not None and base.input_cost_per_token == D("0.000002")  # original intact


def test_override_by_short_name_merges_onto_prefixed_entry(bundled: PriceTable) -> None:
    table = bundled.with_overrides({"gemini-2.5-pro": {"input_cost_per_token": 1}}, "c.toml")
    price = table.lookup("gemini-2.5-pro", "gemini")
    assert price is not None
    assert price.input_cost_per_token == 1
    assert price.output_cost_per_token == D("0.00001")


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"input_cost": 1}, "input_cost"),
        ({"input_cost_per_token": -1}, "negative"),
        ({"input_cost_per_token": "two"}, "input_cost_per_token"),
        ({"input_cost_per_token": True}, "input_cost_per_token"),
        ({"max_input_tokens": "lots"}, "max_input_tokens"),
    ],
)
def test_bad_overrides(bundled: PriceTable, fields: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as err:
        bundled.with_overrides({"gpt-x": fields}, "centwise.toml")
    assert "centwise.toml" in str(err.value) and "gpt-x" in str(err.value)


def test_layered_newer_wins(tmp_path: Path, bundled: PriceTable) -> None:
    newer = PriceTable.load(
        _write(
            tmp_path / "p.json",
            {
                "gpt-4.1": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000004},
                "brand-new": {"input_cost_per_token": 1, "output_cost_per_token": 2},
            },
        )
    )
    table = bundled.layered(newer)
    price = table.lookup("gpt-4.1")
    assert price is not None and price.input_cost_per_token == D("0.000001")
    assert "brand-new" in table.models() and "gpt-4o" in table.models()


# -- loading and validation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ('{"m": {"input_cost_per_token": "0.1"}}', ["'m'", "input_cost_per_token"]),
        ('{"m": {"input_cost_per_token": -0.1}}', ["'m'", "negative"]),
        ('{"m": {"max_input_tokens": 1.5}}', ["'m'", "max_input_tokens"]),
        ('{"m": {"litellm_provider": 3}}', ["'m'", "litellm_provider"]),
        ('{"m": {"input_cost_per_token": NaN}}', ["not valid JSON"]),
        ('{"m": [1, 2]}', ["'m'", "expected an object"]),
        ("[1, 2]", ["JSON object"]),
        ('{"m": ', ["not valid JSON"]),
    ],
)
def test_malformed_files(tmp_path: Path, content: str, needles: list[str]) -> None:
    path = _write(tmp_path / "bad.json", content)
    with pytest.raises(ConfigError) as err:
        PriceTable.load(path)
    assert str(path) in str(err.value)
    for needle in needles:
        assert needle in str(err.value)


def test_not_utf8_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"café": {}}'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        PriceTable.load(path)
    with pytest.raises(ConfigError, match="not found"):
        PriceTable.load(tmp_path / "missing.json")


def test_load_keeps_exact_decimals_and_skips_metadata(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "p.json",
        '{"sample_spec": {"max_input_tokens": "text"}, "_note": 1,'
        ' "m": {"input_cost_per_token": 1.0000000000000001e-07, "output_cost_per_token": 0,'
        ' "supports_vision": true, "max_tokens": 4096}}',
    )
    table = PriceTable.load(path)
    assert table.models() == ["m"]
    price = table.lookup("m")
    assert price is not None
    assert price.input_cost_per_token == D("1.0000000000000001e-07")  # not float-rounded
    assert price.output_cost_per_token == 0 and price.known
    assert price.max_output_tokens == 4096  # falls back to max_tokens


# -- diff and import -------------------------------------------------------------------


def _tables(tmp_path: Path) -> tuple[PriceTable, Path]:
    old = PriceTable(
        {
            "a": {"input_cost_per_token": D("0.1"), "output_cost_per_token": D("0.2")},
            "b": {"input_cost_per_token": D("0.1"), "output_cost_per_token": D("0.2")},
        },
        "old",
    )
    src = _write(
        tmp_path / "new.json",
        {
            "a": {"input_cost_per_token": 0.15, "output_cost_per_token": 0.2},
            "c": {"input_cost_per_token": 1, "output_cost_per_token": 1},
        },
    )
    return old, src


def test_diff_tables(tmp_path: Path) -> None:
    old, src = _tables(tmp_path)
    diff = diff_tables(old, PriceTable.load(src))
    assert diff.added == ["c"]
    assert diff.removed == ["b"]
    assert diff.changed == {"a": {"input_cost_per_token": (D("0.1"), D("0.15"))}}
    assert diff.summary_lines() == ["+ c", "- b", "~ a: input_cost_per_token 0.1 → 0.15"]
    assert diff_tables(old, old).summary_lines() == ["no changes"]


def test_import_writes_atomically(tmp_path: Path) -> None:
    old, src = _tables(tmp_path)
    dest = tmp_path / "data" / "prices.json"
    diff = import_price_file(src, dest, old)
    assert dest.read_bytes() == src.read_bytes()
    assert diff.added == ["c"] and diff.removed == ["b"]
    assert [p.name for p in dest.parent.iterdir()] == ["prices.json"]  # no temp left


def test_import_invalid_leaves_dest_untouched(tmp_path: Path) -> None:
    old, _ = _tables(tmp_path)
    dest = _write(tmp_path / "prices.json", {"keep": {"input_cost_per_token": 1}})
    before = dest.read_bytes()
    bad = _write(tmp_path / "bad.json", {"a": {"input_cost_per_token": -1}})
    with pytest.raises(ConfigError, match=r"bad\.json"):
        import_price_file(bad, dest, old)
    assert dest.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "new.json", "prices.json"]
