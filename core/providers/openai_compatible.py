"""Any server speaking OpenAI's Chat Completions dialect (vLLM, llama.cpp, LM Studio…).

The wire format is :mod:`core.providers.openai`'s; the differences are that
``base_url`` is required, the key is optional, the output cap is sent as
``max_tokens`` (what such servers understand), and replies without usage are
counted locally and marked estimated.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from core.config import ProviderConfig
from core.errors import ConfigError
from core.providers.openai import OpenAIProvider
from core.types import Secret

__all__ = ["PROVIDER", "OpenAICompatibleProvider"]


class OpenAICompatibleProvider(OpenAIProvider):
    """An OpenAI-compatible server at a configured ``base_url``."""

    kind: ClassVar[str] = "openai-compatible"
    default_base_url: ClassVar[str | None] = None
    default_key_env: ClassVar[str | None] = None
    max_tokens_field: ClassVar[str] = "max_tokens"

    def __init__(
        self,
        name: str,
        settings: ProviderConfig,
        client: httpx.AsyncClient,
        api_key: Secret | None = None,
    ) -> None:
        if not settings.base_url:
            raise ConfigError(
                f"providers.{name}.base_url: required for an openai-compatible provider "
                f"(e.g. http://localhost:8000/v1)",
                provider=name,
            )
        super().__init__(name, settings, client, api_key)


PROVIDER = OpenAICompatibleProvider
