"""VectorIndex behaviour.

Recall here is measured on SYNTHETIC data (random unit vectors and noisy copies of
them), which is enough to check the shortlist + exact re-rank logic; recall on real
MiniLM embeddings is measured by ``tests/benchmarks/bench_embeddings_index.py``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from core.cache.index import VectorIndex

DIM = 384


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> npt.NDArray[np.float32]:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    out: npt.NDArray[np.float32] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def noisy(
    rng: np.random.Generator, x: npt.NDArray[np.float32], scale: float
) -> npt.NDArray[np.float32]:
    y = x + scale * unit(rng, x.shape[0], x.shape[1])
    out: npt.NDArray[np.float32] = (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)
    return out


def exact_top1(data: npt.NDArray[np.float32], q: npt.NDArray[np.float32]) -> int:
    return int(np.argmax(data @ q))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_empty_index(rng: np.random.Generator) -> None:
    index = VectorIndex(DIM)
    assert len(index) == 0
    assert index.search(unit(rng, 1)[0]) == []
    assert index.remove([1, 2]) == 0


def test_finds_the_exact_vector_through_the_shortlist(rng: np.random.Generator) -> None:
    data = unit(rng, 20_000)
    index = VectorIndex(DIM, shortlist=64, exact_below=0)  # force the code path
    index.add(range(100, 20_100), data)
    for row in (0, 7, 12_345, 19_999):
        (best_id, sim), *_ = index.search(data[row], k=3)
        assert best_id == 100 + row
        assert sim == pytest.approx(1.0, abs=1e-5)


def test_results_are_sorted_cosines(rng: np.random.Generator) -> None:
    data = unit(rng, 500)
    index = VectorIndex(DIM)
    index.add(range(500), data * 3.0)  # stored normalised whatever the scale
    q = unit(rng, 1)[0]
    got = index.search(q, k=10)
    want = np.sort(data @ q)[::-1][:10]
    np.testing.assert_allclose([s for _, s in got], want, atol=1e-5)
    assert [i for i, _ in got] == list(np.argsort(-(data @ q))[:10])


def test_recall_on_synthetic_noisy_queries(rng: np.random.Generator) -> None:
    data = unit(rng, 20_000)
    index = VectorIndex(DIM, shortlist=200, exact_below=0)
    index.add(range(20_000), data)
    rows = rng.choice(20_000, 200, replace=False)
    queries = noisy(rng, data[rows], 0.8)  # cosine about 0.78 to its source
    hits = sum(index.search(q, k=1)[0][0] == exact_top1(data, q) for q in queries)
    assert hits / len(queries) >= 0.99


def test_remove_and_add_after_remove(rng: np.random.Generator) -> None:
    data = unit(rng, 10_000)
    index = VectorIndex(DIM, shortlist=64, exact_below=0)
    index.add(range(10_000), data)
    assert index.remove([5, 9_999, 42, 123_456]) == 3
    assert len(index) == 9_997 and 5 not in index and 6 in index
    assert index.search(data[5], k=1)[0][0] != 5
    assert index.search(data[9_998], k=1)[0][0] == 9_998  # moved by swap-remove
    index.add([5], data[9_999:])  # id 5 comes back with another vector
    (best, sim), *_ = index.search(data[9_999], k=1)
    assert best == 5 and sim == pytest.approx(1.0, abs=1e-5)
    assert len(index) == 9_998


def test_add_replaces_an_existing_id(rng: np.random.Generator) -> None:
    a, b = unit(rng, 2)
    index = VectorIndex(DIM)
    index.add([1], a[None])
    index.add([1], b[None])
    assert len(index) == 1
    (best, sim), *rest = index.search(b, k=5)
    assert best == 1 and sim == pytest.approx(1.0, abs=1e-5) and rest == []


def test_capacity_grows_and_shrinks(rng: np.random.Generator) -> None:
    reserved = VectorIndex(DIM)
    reserved.reserve(10_000)
    reserved.add(range(10), unit(rng, 10))
    assert reserved.capacity == 10_000  # adding does not give the reservation back
    index = VectorIndex(DIM)
    data = unit(rng, 5_000)
    for start in range(0, 5_000, 100):
        index.add(range(start, start + 100), data[start : start + 100])
    assert 5_000 <= index.capacity < 10_000
    assert index.nbytes >= 5_000 * (DIM * 4 + 48 + 8)
    index.remove(range(4_900))
    assert len(index) == 100 and index.capacity <= 1_024
    assert sorted(index.ids().tolist()) == list(range(4_900, 5_000))
    assert index.search(data[4_950], k=1)[0][0] == 4_950
    index.reserve(3_000)
    assert index.capacity == 3_000 and len(index) == 100
    assert index.search(data[4_950], k=1)[0][0] == 4_950


def test_codes_are_sign_bits(rng: np.random.Generator) -> None:
    index = VectorIndex(70)  # two words, the second partly padding
    x = unit(rng, 3, 70)
    codes = index.encode(x)
    assert codes.shape == (3, 2) and codes.dtype == np.uint64
    bits = np.unpackbits(codes.view(np.uint8), axis=1, bitorder="little")[:, :70]
    np.testing.assert_array_equal(bits.astype(bool), x > 0)
    assert index.hamming(codes[0]).tolist() == []  # nothing stored yet


def test_rejects_bad_input(rng: np.random.Generator) -> None:
    index = VectorIndex(DIM)
    with pytest.raises(ValueError, match="ids for"):
        index.add([1, 2], unit(rng, 3))
    with pytest.raises(ValueError, match="duplicate"):
        index.add([1, 1], unit(rng, 2))
    bad = unit(rng, 1)
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        index.add([1], bad)
    with pytest.raises(ValueError):
        index.search(np.zeros(DIM + 1, np.float32))
