"""The one interface every provider implements.

A provider module (``core/providers/<kind>.py``, dashes as underscores) defines a
subclass of :class:`Provider` and names it ``PROVIDER``. The engine finds it by the
config's ``kind``; adding a provider never touches a central switch.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from core.config import ProviderConfig
from core.errors import ConfigError
from core.types import (
    Finish,
    ProviderEvent,
    ProviderRequest,
    Secret,
    TextDelta,
    ToolCall,
    Usage,
    UsageReport,
)

__all__ = ["Completion", "Provider", "load_provider_class"]


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    usage: Usage | None
    usage_estimated: bool
    finish_reason: str | None
    tool_calls: tuple[ToolCall, ...] = ()


class Provider(abc.ABC):
    """One LLM service. Subclasses take an injected ``httpx.AsyncClient``."""

    kind: ClassVar[str]
    #: True when replies are produced locally and priced "as if" (the Simulator).
    simulated: ClassVar[bool] = False
    default_base_url: ClassVar[str | None] = None
    #: The :class:`~core.types.Sampling` settings this provider's API can carry.
    sampling_supported: ClassVar[frozenset[str]] = frozenset({"top_p", "stop", "seed"})
    #: Whether the API can be asked for JSON output (an object, or a JSON Schema).
    json_output_supported: ClassVar[bool] = True
    #: Whether the API carries tool definitions, tool calls and tool results.
    tools_supported: ClassVar[bool] = True
    #: Whether the API carries images (by URL when ``image_urls_supported``, else
    #: only inline bytes), and the largest image it takes, in bytes (None: no limit).
    images_supported: ClassVar[bool] = True
    image_urls_supported: ClassVar[bool] = True
    max_image_bytes: ClassVar[int | None] = 20 * 1024 * 1024
    #: Whether ``reasoning_effort`` can be carried.
    reasoning_effort_supported: ClassVar[bool] = False
    #: The tool choices the API can enforce (auto, none, required, a named tool).
    tool_choice_modes: ClassVar[frozenset[str]] = frozenset({"auto", "none", "required", "tool"})
    #: Whether ``parallel_tool_calls`` can be carried, and strict tool schemas.
    parallel_tool_calls_supported: ClassVar[bool] = True
    strict_tools_supported: ClassVar[bool] = True
    #: Whether a client's prompt-cache marks (``cache_control``) are sent as given;
    #: elsewhere they are left out with a warning (the provider caches on its own terms).
    cache_marks_supported: ClassVar[bool] = False

    def takes_cache_marks(self, model: str) -> bool:
        """Whether marks are honoured for ``model`` (see ``cache_marks_supported``)."""
        return self.cache_marks_supported

    def __init__(
        self,
        name: str,
        settings: ProviderConfig,
        client: httpx.AsyncClient,
        api_key: Secret | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.client = client
        self.api_key = api_key
        self.base_url = (settings.base_url or self.default_base_url or "").rstrip("/")
        #: Set by the engine: counts tokens when a reply carries no usage (then the
        #: record is marked estimated). Duck-typed: ``count_text`` / ``count_messages``.
        self.token_counter: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    @abc.abstractmethod
    def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        """Yield text deltas, then usage (if reported) and a :class:`Finish`.

        Raises only :class:`core.errors.ProviderError` subclasses.
        """

    async def complete(self, request: ProviderRequest) -> Completion:
        """A non-streamed reply. The default drains :meth:`stream`; real providers
        override it with their non-streaming endpoint."""
        parts: list[str] = []
        usage: Usage | None = None
        estimated = False
        reason: str | None = None
        calls: tuple[ToolCall, ...] = ()
        async for event in self.stream(request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, UsageReport):
                usage, estimated = event.usage, event.estimated
            elif isinstance(event, Finish):
                reason, calls = event.reason, event.tool_calls
        return Completion("".join(parts), usage, estimated, reason, calls)

    async def list_models(self) -> list[str]:
        """The models this provider offers (for settings and ``centwise models``)."""
        return []

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release anything the provider holds beyond the shared client."""


def load_provider_class(kind: str) -> type[Provider]:
    """Import ``core.providers.<kind>`` and return its ``PROVIDER`` class."""
    module_name = "core.providers." + kind.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise ConfigError(f"provider kind {kind!r} is not available in this build") from None
        raise
    cls = getattr(module, "PROVIDER", None)
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ConfigError(f"provider module {module_name} does not define PROVIDER")
    return cls
