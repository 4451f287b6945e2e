"""The numpy MiniLM against vectors from the official sentence-transformers code.

``tests/fixtures/minilm_reference.json`` was produced once by
``tests/fixtures/make_minilm_reference.py`` in a throwaway torch venv.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.cache import Embedder, minilm
from core.cache.minilm import MODEL_PACKAGE, MiniLMEmbedder, default_model_dir, gelu
from core.errors import ConfigError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec(MODEL_PACKAGE) is None,
    reason="the 'embeddings' extra (local model package) is not installed",
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "minilm_reference.json"
REFERENCE = json.loads(FIXTURE.read_text(encoding="utf-8"))["items"]
# Words that are one word piece each, so n words are exactly n tokens (+ CLS, SEP).
WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "dog",
    "ran",
    "to",
    "house",
    "river",
    "green",
    "blue",
    "music",
    "book",
]


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def _words(n: int) -> str:
    return " ".join(WORDS[(i * 7) % len(WORDS)] for i in range(n))


def test_is_an_embedder(embedder: MiniLMEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert (embedder.name, embedder.dim) == ("all-MiniLM-L6-v2", 384)


@pytest.mark.parametrize("item", REFERENCE, ids=lambda i: i["text"][:24])
def test_matches_reference(embedder: MiniLMEmbedder, item: dict[str, object]) -> None:
    ref = np.asarray(item["vector"], dtype=np.float32)
    got = embedder.embed([str(item["text"])])[0]
    assert float(got @ ref) >= 0.9999


def test_reference_covers_long_texts() -> None:
    counts = [int(i["tokens_untruncated"]) for i in REFERENCE]
    assert any(128 < c <= 256 for c in counts)
    assert any(c > 256 for c in counts)


def test_batch_equals_single(embedder: MiniLMEmbedder) -> None:
    # Mixed lengths (one past 128 tokens) so batches need padding; kept small for speed.
    texts = [str(i["text"]) for i in REFERENCE if int(i["tokens_untruncated"]) < 160]
    batch = MiniLMEmbedder(embedder.model_dir, batch_size=7).embed(texts)
    singles = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


def test_rows_are_unit_float32_in_input_order(embedder: MiniLMEmbedder) -> None:
    texts = ["a very much longer sentence about the weather " * 5, "short", "medium text here"]
    out = embedder.embed(texts)
    assert out.dtype == np.float32 and out.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[1], embedder.embed(["short"])[0], atol=1e-5)


def test_empty_and_misuse(embedder: MiniLMEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.embed("one string")


def test_truncates_at_256_tokens(embedder: MiniLMEmbedder) -> None:
    assert embedder.count_tokens(_words(300)) == 256
    assert embedder.count_tokens(_words(254)) == 256
    # 254 words + [CLS] + [SEP] = 256 tokens: a 300-word text must embed the same.
    long, prefix = embedder.embed([_words(300), _words(254)])
    assert float(long @ prefix) > 0.99999
    # ... and tokens past the shipped 128 limit do count.
    full, short = embedder.embed([_words(200), _words(126)])
    assert float(full @ short) < 0.999


def test_paraphrase_scores_higher_than_unrelated(embedder: MiniLMEmbedder) -> None:
    a, b, c = embedder.embed(
        [
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "The recipe needs two cups of flour and an egg.",
        ]
    )
    assert float(a @ b) > 0.6 > float(a @ c) + 0.3


def test_gelu_is_erf_exact() -> None:
    xs = np.linspace(-8, 8, 4001, dtype=np.float32)
    exact = np.array([0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in xs.astype(float)])
    assert np.max(np.abs(gelu(xs) - exact)) < 2e-6


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    src = default_model_dir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        shutil.copyfile(src / name, tmp_path / name)
    MiniLMEmbedder(tmp_path)  # the untouched copy loads
    with (tmp_path / "model.safetensors").open("r+b") as fh:
        fh.seek(5_000_000)
        byte = fh.read(1)
        fh.seek(5_000_000)
        fh.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(ConfigError, match="SHA-256"):
        MiniLMEmbedder(tmp_path)


def test_a_changed_tokenizer_is_refused(tmp_path: Path) -> None:
    src = default_model_dir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        shutil.copyfile(src / name, tmp_path / name)
    tokenizer = tmp_path / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text(encoding="utf-8") + " ", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tokenizer\.json has SHA-256"):
        MiniLMEmbedder(tmp_path)


def test_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        MiniLMEmbedder(tmp_path)


def test_missing_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm, "MODEL_PACKAGE", "centwise_no_such_model_package")
    with pytest.raises(ConfigError, match="not installed"):
        MiniLMEmbedder()
