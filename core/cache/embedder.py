"""What the semantic cache needs from an embedding model.

Two shapes, because local and remote models differ in how they are called:

* :class:`Embedder` runs on this device, synchronously (call it off the UI thread).
  :class:`core.cache.minilm.MiniLMEmbedder` is the built-in one.
* :class:`AsyncEmbedder` calls a service over an injected ``httpx.AsyncClient`` and
  also says how many tokens the call used, so the ledger can price it
  (:class:`EmbeddingUsage`). See :mod:`core.cache.remote_embedders`.

Both return ``float32`` arrays of shape ``(len(texts), dim)`` whose rows have unit L2
norm, so a dot product is the cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "AsyncEmbedder",
    "Embedder",
    "EmbeddingUsage",
    "Vectors",
    "l2_normalise",
]

#: ``float32`` array of shape ``(n, dim)`` with unit-norm rows.
Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """A local embedding model: ``embed`` turns texts into unit vectors."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Return ``float32`` of shape ``(len(texts), dim)``, rows L2-normalised."""
        ...


@dataclass(frozen=True, slots=True)
class EmbeddingUsage:
    """Tokens one remote embedding call used, for the ledger.

    ``estimated`` is True when the service did not report a count and the embedder
    estimated it (roughly 4 characters per token).
    """

    provider: str
    model: str
    input_tokens: int
    estimated: bool = False

    def cost_usd(self, usd_per_million_tokens: Decimal) -> Decimal:
        """Exact cost at a per-million-token price (no float touches money)."""
        return usd_per_million_tokens * self.input_tokens / Decimal(1_000_000)


@runtime_checkable
class AsyncEmbedder(Protocol):
    """A remote embedding service.

    ``dim`` is ``None`` until the first reply when it was not configured.
    ``aembed`` returns the vectors and the number of input tokens the call used
    (as reported, or estimated - ``last_usage`` says which).
    """

    name: str
    model: str
    dim: int | None
    last_usage: EmbeddingUsage | None

    async def aembed(self, texts: Sequence[str]) -> tuple[Vectors, int]:
        """Embed ``texts``; raises only :class:`core.errors.ProviderError` subclasses."""
        ...


def l2_normalise(vecs: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit length as ``float32``; all-zero rows stay zero."""
    arr = np.asarray(vecs, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    out: Vectors = arr / np.maximum(norms, np.float32(1e-12))
    return out.astype(np.float32, copy=False)
