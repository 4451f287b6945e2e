"""What the quality tools need of the engine, and nothing more.

Compare, evaluation and calibration ask tiers, explain routes and read the config;
they take an :class:`Asker` rather than the whole :class:`~core.engine.Engine` (which
satisfies it), so they sit below the facade and a test can hand them anything that
answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from core.config import CentwiseConfig
    from core.pipeline.request import Reply
    from core.routing.router import RouteDecision
    from core.types import Message

__all__ = ["Asker"]


class Asker(Protocol):
    """The engine as the quality tools see it."""

    config: CentwiseConfig

    def ask(
        self,
        prompt: str,
        *,
        system: str | None = None,
        model: str = "auto",
        max_output_tokens: int | None = None,
        temperature: float | None = None,
        history: Sequence[Message] = (),
        purpose: str = "user",
        use_cache: bool = True,
        conversation_id: str | None = None,
    ) -> Reply:
        """Start one request through the whole pipeline."""
        ...

    def explain_route(self, prompt: str, *, model: str = "auto", depth: int = 0) -> RouteDecision:
        """The tier ``prompt`` would get, with its score and reasons."""
        ...
