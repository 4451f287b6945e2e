"""Integration fixtures: loopback provider servers (see tests/integration/servers) and a
real Secret Service (tests/keyring_service.py)."""

from tests.integration.servers.fixtures import (  # noqa: F401  (fixtures, used by name)
    anthropic_server,
    gemini_server,
    http_client,
    ollama_server,
    openai_server,
)
from tests.keyring_service import secret_service, service  # noqa: F401
