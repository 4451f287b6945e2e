"""The semantic cache: on-device embeddings, a compact vector index, the cache store."""

from core.cache.embedder import (
    AsyncEmbedder,
    Embedder,
    EmbeddingUsage,
    Vectors,
    l2_normalise,
)
from core.cache.index import VectorIndex
from core.cache.minilm import MiniLMEmbedder
from core.cache.remote_embedders import OllamaEmbedder, OpenAICompatibleEmbedder

__all__ = [
    "AsyncEmbedder",
    "Embedder",
    "EmbeddingUsage",
    "MiniLMEmbedder",
    "OllamaEmbedder",
    "OpenAICompatibleEmbedder",
    "VectorIndex",
    "Vectors",
    "l2_normalise",
]
