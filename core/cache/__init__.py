"""The semantic cache: on-device embeddings, a compact vector index, the cache store."""

from core.cache.embedder import (
    AsyncEmbedder,
    Embedder,
    EmbeddingUsage,
    Vectors,
    l2_normalise,
)

__all__ = [
    "AsyncEmbedder",
    "Embedder",
    "EmbeddingUsage",
    "Vectors",
    "l2_normalise",
]
