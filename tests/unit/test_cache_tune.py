"""Threshold tuning on labelled pairs: validation, rates, the hold-out rule, output.

Similarities are given directly (``similarities=``) or come from a tiny TEST DOUBLE
embedder, so these tests need no model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from core.cache.embedder import Vectors
from core.cache.tune import (
    DEFAULT_THRESHOLDS,
    Pair,
    load_pairs,
    pair_similarities,
    parse_pairs,
    render_table,
    report_to_json,
    tune,
)
from core.errors import InputError

DEV_SET = Path(__file__).parents[2] / "resources" / "cache_pairs_dev.jsonl"

PAIRS = [
    Pair("How do I boil an egg?", "how do i boil an egg", True, "paraphrase"),
    Pair("What is a monad?", "Explain monads", True, "paraphrase"),
    Pair("Convert 100 USD to EUR", "Convert 100 EUR to USD", False, "direction"),
    Pair("What is 2 + 2?", "What is 2 + 3?", False, "number"),
    Pair("Bake bread", "History of Rome", False, "unrelated"),
]
SIMS = [0.99, 0.81, 0.98, 0.95, 0.75]


class FixedVectors:
    """Test double: each known text maps to a fixed unit vector."""

    name = "fixed-test-double"
    dim = 2

    def __init__(self, table: dict[str, tuple[float, float]]) -> None:
        self.table = table

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.asarray([self.table[t] for t in texts], dtype=np.float32)


def test_rates_with_and_without_guard() -> None:
    off = tune(PAIRS, FixedVectors({}), [0.8, 0.9], guard=False, similarities=SIMS)
    at_80, at_90 = off.rows
    assert (at_80.hits, at_80.paraphrases, at_80.false_hits, at_80.negatives) == (2, 2, 2, 3)
    assert at_80.hard_false_hits == 2 and at_80.hard_negatives == 2
    assert at_90.hit_rate == 0.5 and at_90.hard_false_hit_rate == 1.0
    on = tune(PAIRS, FixedVectors({}), [0.8, 0.9], guard=True, similarities=SIMS)
    assert [r.false_hits for r in on.rows] == [0, 0]
    assert on.rows[0].by_category["direction"] == (0, 1)
    assert on.guard_rejections == {"direction": 1, "number": 1, "unrelated": 1}  # "Rome"


def test_recommended_is_best_hit_rate_within_budget() -> None:
    on = tune(PAIRS, FixedVectors({}), [0.8, 0.9, 0.95], similarities=SIMS)
    assert on.recommended == 0.8
    off = tune(PAIRS, FixedVectors({}), [0.8, 0.9], guard=False, similarities=SIMS)
    assert off.recommended is None


def test_similarities_come_from_the_embedder_once_per_text() -> None:
    emb = FixedVectors({"a": (1.0, 0.0), "b": (0.6, 0.8), "c": (0.0, 1.0)})
    pairs = [Pair("a", "b", True, "paraphrase"), Pair("a", "c", False, "unrelated")]
    assert pair_similarities(pairs, emb) == pytest.approx([0.6, 0.0])


def test_default_thresholds() -> None:
    assert DEFAULT_THRESHOLDS[0] == 0.70 and DEFAULT_THRESHOLDS[-1] == 0.98
    assert len(DEFAULT_THRESHOLDS) == 15


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "1: not valid JSON"),
        ("[1, 2]", "1: expected a JSON object"),
        ('{"a": "x", "b": "y", "category": "c"}', "1: missing key 'same'"),
        ('{"a": "x", "b": "y", "same": "yes", "category": "c"}', "'same' must be true or false"),
        ('{"a": "x", "b": 3, "same": true, "category": "c"}', "'b' must be a string"),
        ('{"a": "x", "b": "y", "same": true, "category": "c", "sme": 1}', "unknown key 'sme'"),
        ('{"a": " ", "b": "y", "same": true, "category": "c"}', "'a' is empty"),
    ],
)
def test_parse_errors_name_line_and_key(line: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_pairs(line, "pairs.jsonl")


def test_errors_report_the_right_line(tmp_path: Path) -> None:
    good = json.dumps({"a": "x", "b": "y", "same": True, "category": "c"})
    path = tmp_path / "p.jsonl"
    path.write_text(f"{good}\n\n{good}\n{{}}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"p\.jsonl:4: missing key 'a'"):
        load_pairs(path)


def test_not_utf8_and_empty_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"a": "x"}\n{"a": "\xff"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2: not UTF-8"):
        load_pairs(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no pairs"):
        load_pairs(empty)
    with pytest.raises(InputError, match="cannot read"):
        load_pairs(tmp_path / "missing.jsonl")


def test_dev_set_meets_its_stated_shape() -> None:
    pairs = load_pairs(DEV_SET)
    assert len(pairs) >= 120
    cats: dict[str, int] = {}
    for p in pairs:
        cats[p.category] = cats.get(p.category, 0) + 1
        assert p.same == (p.category == "paraphrase")
    assert cats.pop("paraphrase") >= 50
    for category in ("number", "entity", "quoted", "code", "negation", "direction"):
        assert cats[category] >= 6, category
    assert cats["question"] >= 6 and cats["opposed"] >= 6 and cats["unrelated"] >= 6
    domains = {p.domain for p in pairs if p.same}
    assert len(domains) >= 7


def test_the_labelled_pairs_load_with_their_source() -> None:
    """resources/cache_pairs/pairs.jsonl (issue 17's set) reads like the dev set: the
    ``source`` key that splits it into dev and test is accepted, not an error."""
    path = DEV_SET.parent / "cache_pairs" / "pairs.jsonl"
    pairs = load_pairs(path)
    assert len(pairs) == sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line)
    assert {p.same for p in pairs} == {True, False}


def test_json_and_table_output() -> None:
    report = tune(PAIRS, FixedVectors({}), [0.8, 0.9], similarities=SIMS)
    data = report_to_json(report)
    assert json.loads(json.dumps(data)) == data
    assert data["recommended_threshold"] == 0.8
    row = data["thresholds"][0]
    assert row["paraphrase_hit_rate"] == 1.0 and row["hard_false_hit_rate"] == 0.0
    assert row["by_category"]["direction"] == {"served": 0, "pairs": 1, "rate": 0.0}
    table = render_table(report)
    assert "guard: on, 5 pairs" in table
    assert " 0.800    100.0%" in table
    assert "recommended: 0.80" in table
