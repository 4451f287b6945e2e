"""Integration fixtures: loopback provider servers (see tests/integration/servers)."""

from tests.integration.servers.fixtures import (  # noqa: F401  (fixtures, used by name)
    anthropic_server,
    gemini_server,
    http_client,
    ollama_server,
    openai_server,
)
