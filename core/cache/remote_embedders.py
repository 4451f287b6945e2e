"""Embeddings from a service: OpenAI-compatible ``/embeddings`` and Ollama ``/api/embed``.

Each embedder takes an injected ``httpx.AsyncClient`` (the engine's shared one, or a
test's), returns unit ``float32`` vectors plus the input tokens the call used, and
raises only :class:`core.errors.ProviderError` subclasses:

=====================  ===================================
401, 403               AuthenticationError
429                    RateLimitError (``retry_after`` set)
400, 404, 422          BadRequestError (ProviderContextLengthError for "too long")
5xx, 529               OverloadedError
timeout                ProviderTimeoutError
network failure        ConnectionFailedError
unparseable reply      MalformedResponseError
CR/LF in a header      UnsafeHeaderError (before sending)
=====================  ===================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import numpy as np

from core.cache.embedder import EmbeddingUsage, Vectors, l2_normalise
from core.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionFailedError,
    MalformedResponseError,
    OverloadedError,
    ProviderContextLengthError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    UnsafeHeaderError,
)
from core.providers.wire import parse_retry_after, unsafe_header
from core.types import Secret

__all__ = ["OllamaEmbedder", "OpenAICompatibleEmbedder", "RemoteEmbedder"]

_CONTEXT_HINTS = ("context length", "too long", "maximum context", "too many tokens")


class RemoteEmbedder:
    """Shared plumbing; subclasses say where to POST and how to read the reply."""

    provider: ClassVar[str]

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        model: str,
        *,
        dim: int | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"{self.provider}:{model}"
        self.dim = dim
        self.last_usage: EmbeddingUsage | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r})"

    async def aembed(self, texts: Sequence[str]) -> tuple[Vectors, int]:
        """Embed ``texts``: unit vectors in input order, and input tokens used."""
        if isinstance(texts, str):
            raise TypeError("aembed() takes a sequence of texts, not one string")
        if not texts:
            return np.zeros((0, self.dim or 0), dtype=np.float32), 0
        url, payload, headers = self._request(list(texts))
        data, response = await self._post(url, payload, headers)
        try:
            rows, tokens = self._parse(data, len(texts))
            vectors = self._check_vectors(rows, len(texts))
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as e:
            raise self._malformed(f"unexpected embeddings reply: {e!r}", response) from None
        estimated = tokens is None
        used = sum(math.ceil(len(t) / 4) for t in texts) if tokens is None else tokens
        self.last_usage = EmbeddingUsage(self.provider, self.model, used, estimated)
        return vectors, used

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any], dict[str, str]]:
        raise NotImplementedError

    def _parse(self, data: Any, n: int) -> tuple[list[Any], int | None]:
        """The raw rows (in input order) and the reported token count, if any."""
        raise NotImplementedError

    def _check_vectors(self, rows: list[Any], n: int) -> Vectors:
        arr = np.asarray(rows, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] == 0:
            raise ValueError(f"expected {n} vectors of equal length, got shape {arr.shape}")
        if self.dim is not None and arr.shape[1] != self.dim:
            raise ValueError(f"expected {self.dim} dimensions, got {arr.shape[1]}")
        if not np.isfinite(arr).all():
            raise ValueError("vector holds NaN or infinity")
        self.dim = int(arr.shape[1])
        return l2_normalise(arr)

    async def _post(
        self, url: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> tuple[Any, httpx.Response]:
        name = unsafe_header(headers)
        if name is not None:  # named, never shown: the value may be an API key
            message = (
                f"refusing to call {self.provider} embeddings: the {name} header holds a "
                "line break or another control character (check the API key); nothing was sent"
            )
            raise self._error(UnsafeHeaderError, message)
        try:
            response = await self.client.post(url, json=payload, headers=headers)
        except httpx.TimeoutException as e:
            message = f"{self.provider} embeddings timed out ({type(e).__name__})"
            raise self._error(ProviderTimeoutError, message) from None
        except httpx.TransportError as e:
            message = f"cannot reach {self.provider} embeddings at {url}: {e}"
            raise self._error(ConnectionFailedError, message) from None
        if response.status_code >= 300:
            raise self._status_error(response)
        try:
            return response.json(), response
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self._malformed("embeddings reply is not JSON", response) from None

    def _error(
        self,
        cls: type[ProviderError],
        message: str,
        response: httpx.Response | None = None,
        retry_after: float | None = None,
    ) -> ProviderError:
        """An error of ``cls`` carrying provider, model, status and request id."""
        return cls(
            message,
            status=None if response is None else response.status_code,
            retry_after=retry_after,
            provider=self.provider,
            model=self.model,
            request_id=None if response is None else response.headers.get("x-request-id"),
        )

    def _malformed(self, message: str, response: httpx.Response | None = None) -> ProviderError:
        return self._error(MalformedResponseError, message, response)

    def _status_error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        detail = response.text[:300].strip()
        message = f"{self.provider} embeddings failed with HTTP {status}: {detail}"
        if status in (401, 403):
            return self._error(AuthenticationError, message, response)
        if status == 429:
            retry = parse_retry_after(response.headers)
            return self._error(RateLimitError, message, response, retry)
        if status in (400, 404, 413, 422):
            too_long = status == 413 or any(h in detail.lower() for h in _CONTEXT_HINTS)
            cls = ProviderContextLengthError if too_long else BadRequestError
            return self._error(cls, message, response)
        if status >= 500:
            return self._error(OverloadedError, message, response)
        return self._error(ProviderError, message, response)


class OpenAICompatibleEmbedder(RemoteEmbedder):
    """``POST {base_url}/embeddings`` as OpenAI, Azure-style gateways, vLLM, LM Studio."""

    provider = "openai-compatible"

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        model: str,
        api_key: Secret | None = None,
        *,
        dim: int | None = None,
    ) -> None:
        super().__init__(client, base_url, model, dim=dim)
        self.api_key = api_key

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any], dict[str, str]]:
        headers = {"Authorization": f"Bearer {self.api_key.reveal()}"} if self.api_key else {}
        payload = {"model": self.model, "input": texts, "encoding_format": "float"}
        return f"{self.base_url}/embeddings", payload, headers

    def _parse(self, data: Any, n: int) -> tuple[list[Any], int | None]:
        items = sorted(data["data"], key=lambda d: int(d["index"]))
        if [int(d["index"]) for d in items] != list(range(n)):
            raise ValueError("reply indices do not match the inputs")
        usage = data.get("usage") or {}
        tokens = usage.get("prompt_tokens", usage.get("total_tokens"))
        return [d["embedding"] for d in items], None if tokens is None else int(tokens)


class OllamaEmbedder(RemoteEmbedder):
    """``POST {base_url}/api/embed`` on a local or LAN Ollama server."""

    provider = "ollama"

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any], dict[str, str]]:
        return f"{self.base_url}/api/embed", {"model": self.model, "input": texts}, {}

    def _parse(self, data: Any, n: int) -> tuple[list[Any], int | None]:
        tokens = data.get("prompt_eval_count")
        return list(data["embeddings"]), None if tokens is None else int(tokens)
