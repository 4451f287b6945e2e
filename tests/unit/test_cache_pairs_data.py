"""Checks on the labelled cache pairs in resources/cache_pairs/ (data only, no project code)."""

import json
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DATA = ROOT / "resources" / "cache_pairs"
PAIRS = DATA / "pairs.jsonl"
SPLIT = DATA / "split.json"
OLD_DEV = ROOT / "resources" / "cache_pairs_dev.jsonl"

KEYS = {"a": str, "b": str, "same": bool, "category": str, "domain": str, "source": str}
MIN_TOTAL = 650
MIN_PER_SPLIT = 250


def _read(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _key(row: dict) -> frozenset[str]:
    # Unordered, so a pair and its reverse are the same pair.
    return frozenset((row["a"].strip(), row["b"].strip()))


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    return _read(PAIRS)


@pytest.fixture(scope="module")
def split() -> dict:
    return json.loads(SPLIT.read_text(encoding="utf-8"))


def test_every_line_has_exact_keys_and_types() -> None:
    for n, line in enumerate(PAIRS.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"line {n} is blank"
        row = json.loads(line)
        assert isinstance(row, dict), f"line {n}"
        assert set(row) == set(KEYS), f"line {n}: keys {sorted(row)}"
        for key, kind in KEYS.items():
            assert isinstance(row[key], kind), f"line {n}: {key!r} is not {kind.__name__}"
            if kind is str:
                assert row[key].strip(), f"line {n}: {key!r} is empty"
        assert row["a"].strip() != row["b"].strip(), f"line {n}: a == b"


def test_at_least_650_pairs(pairs: list[dict]) -> None:
    assert len(pairs) >= MIN_TOTAL


def test_no_duplicate_pairs_including_reversed(pairs: list[dict]) -> None:
    counts = Counter(_key(r) for r in pairs)
    dupes = [sorted(k) for k, c in counts.items() if c > 1]
    assert not dupes, dupes


def test_no_pair_shared_with_existing_dev_file(pairs: list[dict]) -> None:
    old = {_key(r) for r in _read(OLD_DEV)}
    shared = [sorted(_key(r)) for r in pairs if _key(r) in old]
    assert not shared, shared


def test_every_source_in_exactly_one_split(pairs: list[dict], split: dict) -> None:
    dev, test = set(split["dev"]), set(split["test"])
    assert not dev & test, dev & test
    assert split["dev_files"] == ["resources/cache_pairs_dev.jsonl"]
    for source in {r["source"] for r in pairs}:
        assert (source in dev) != (source in test), source
    assert {r["source"] for r in pairs} == dev | test, "split names a source with no pairs"


@pytest.mark.parametrize("side", ["dev", "test"])
def test_each_split_is_complete(pairs: list[dict], split: dict, side: str) -> None:
    sources = set(split[side])
    rows = [r for r in pairs if r["source"] in sources]
    assert len(rows) >= MIN_PER_SPLIT, len(rows)
    assert {r["same"] for r in rows} == {True, False}
    missing = {r["category"] for r in pairs} - {r["category"] for r in rows}
    assert not missing, missing
