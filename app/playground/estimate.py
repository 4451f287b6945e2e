"""The playground's estimate of the whole request, and what its images and tools add.

``Engine.estimate`` counts and prices everything (the prompt, images by the provider's
rule, tool definitions) and routes knowing the request needs tools or images; the
share of images and tools is worked out here again, with the same rules on the model
it routed to, only to say it beside the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from core.content.counting import tool_definition_tokens
from core.content.images import image_tokens
from core.engine import Engine, Estimate
from core.types import ImagePart, ResponseFormat, Tool, ToolChoice

__all__ = ["RequestEstimate", "estimate_request", "provider_kind"]


@dataclass(frozen=True, slots=True)
class RequestEstimate:
    """The engine's estimate, with the part of its input tokens images and tools take."""

    base: Estimate
    provider_kind: str
    image_tokens: int = 0
    tool_tokens: int = 0

    @property
    def extra_tokens(self) -> int:
        return self.image_tokens + self.tool_tokens

    @property
    def input_tokens(self) -> int:
        return self.base.input_tokens

    @property
    def worst_case_usd(self) -> Decimal | None:
        return self.base.worst_case_usd

    @property
    def estimated(self) -> bool:
        return self.base.estimated

    @property
    def tier(self) -> str:
        return self.base.tier

    @property
    def provider(self) -> str:
        return self.base.provider

    @property
    def model(self) -> str:
        return self.base.model

    @property
    def max_output_tokens(self) -> int:
        return self.base.max_output_tokens


def provider_kind(engine: Engine, provider: str) -> str:
    """The kind of the provider named ``provider`` (openai, anthropic, simulator, ...)."""
    settings = engine.config.providers.get(provider)
    return settings.kind if settings is not None else "openai"


def estimate_request(
    engine: Engine,
    prompt: str,
    *,
    images: Sequence[ImagePart] = (),
    tools: Sequence[Tool] = (),
    tool_choice: ToolChoice | None = None,
    response_format: ResponseFormat | None = None,
    **options: object,
) -> RequestEstimate:
    """Tokens and the worst case of the whole request (run it on the engine's loop).
    ``response_format`` is taken so the form's options pass as they are; the engine
    does not count a schema in its estimate."""
    del response_format
    base = engine.estimate(prompt, images=images, tools=tools, tool_choice=tool_choice, **options)  # type: ignore[arg-type]
    kind = provider_kind(engine, base.provider)

    def count(text: str) -> int:
        return engine.tokens.count_text(text, base.model).tokens

    return RequestEstimate(
        base,
        kind,
        sum(image_tokens(image, kind, base.model) for image in images),
        tool_definition_tokens(count, tools, tool_choice, base.model, kind),
    )
