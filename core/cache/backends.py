"""Which embedder the cache uses: MiniLM on the device, or a provider's endpoint.

``[cache] embedder = "minilm"`` (the default) runs all-MiniLM-L6-v2 in numpy.
``embedder = "provider"`` posts to ``embedder_provider``'s embeddings endpoint
(OpenAI-compatible ``/embeddings`` or Ollama ``/api/embed``) with ``embedder_model``;
each call's tokens are priced and recorded in the ledger as embedding spend.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence

import httpx
import numpy as np

from core.cache.embedder import Vectors
from core.cache.remote_embedders import OllamaEmbedder, OpenAICompatibleEmbedder, RemoteEmbedder
from core.config import CentwiseConfig
from core.errors import ConfigError
from core.types import Secret

__all__ = ["BlockingRemoteEmbedder", "make_remote_embedder", "remote_embedder_name"]

_OPENAI_DEFAULT = "https://api.openai.com/v1"
_OLLAMA_DEFAULT = "http://localhost:11434"


def make_remote_embedder(
    config: CentwiseConfig, client: httpx.AsyncClient, key: Secret | None
) -> RemoteEmbedder:
    """The remote embedder ``[cache]`` names, bound to ``client``."""
    cfg = config.cache
    name, model = cfg.embedder_provider, cfg.embedder_model
    if not name or not model:
        raise ConfigError(
            'cache.embedder = "provider" needs cache.embedder_provider and cache.embedder_model'
        )
    settings = config.providers.get(name)
    if settings is None:
        raise ConfigError(f"cache.embedder_provider: {name!r} is not defined under [providers]")
    if settings.kind == "ollama":
        return OllamaEmbedder(
            client, settings.base_url or _OLLAMA_DEFAULT, model, dim=cfg.embedder_dim
        )
    if settings.kind in ("openai", "openai-compatible"):
        base = settings.base_url or _OPENAI_DEFAULT
        return OpenAICompatibleEmbedder(client, base, model, key, dim=cfg.embedder_dim)
    raise ConfigError(
        f"cache.embedder_provider: {name!r} is a {settings.kind} provider; embeddings need "
        "an openai, openai-compatible or ollama provider"
    )


def remote_embedder_name(config: CentwiseConfig) -> str:
    """The name stored with each vector, so vectors of different models never mix."""
    settings = config.providers.get(config.cache.embedder_provider or "")
    kind = "ollama" if settings and settings.kind == "ollama" else "openai-compatible"
    cls = OllamaEmbedder if kind == "ollama" else OpenAICompatibleEmbedder
    return f"{cls.provider}:{config.cache.embedder_model}"


class BlockingRemoteEmbedder:
    """The synchronous :class:`~core.cache.embedder.Embedder` face of a remote one,
    for the cache's own needs (``cache search``, rebuilding after another process
    wrote). Each call runs on a private thread with its own loop and a client from
    ``client_factory`` (the engine's, so proxies, CAs and limits are the same)."""

    def __init__(
        self,
        factory: Callable[[httpx.AsyncClient], RemoteEmbedder],
        name: str,
        dim: int,
        client_factory: Callable[[], httpx.AsyncClient],
    ) -> None:
        self._factory = factory
        self._client_factory = client_factory
        self.name = name
        self.dim = dim
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="centwise-embed")

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self._pool.submit(asyncio.run, self._aembed(list(texts))).result()

    async def _aembed(self, texts: list[str]) -> Vectors:
        async with self._client_factory() as client:
            vectors, _ = await self._factory(client).aembed(texts)
        return np.asarray(vectors, dtype=np.float32)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
