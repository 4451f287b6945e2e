"""Loopback look-alikes of the real providers, for tests and benchmarks.

Use the pytest fixtures from :mod:`tests.integration.servers.fixtures` (``openai_server`` …) or, outside
pytest, ``with serve(OpenAIDialect(), "/v1") as server: ...``.
"""

from tests.integration.servers._base import (
    DEFAULT,
    Behaviour,
    Dialect,
    LoopbackServer,
    RecordedRequest,
    serve,
)
from tests.integration.servers.dialects import (
    AnthropicDialect,
    GeminiDialect,
    OllamaDialect,
    OpenAIDialect,
)

__all__ = [
    "DEFAULT",
    "AnthropicDialect",
    "Behaviour",
    "Dialect",
    "GeminiDialect",
    "LoopbackServer",
    "OllamaDialect",
    "OpenAIDialect",
    "RecordedRequest",
    "make_provider",
    "serve",
]

from tests.integration.servers.fixtures import make_provider
