"""The local gateway: an OpenAI-compatible HTTP API over the engine, with metrics,
structured logs and alerts (``centwise serve``, and the GUI's gateway switch)."""

from core.gateway.alerts import ALERT, Alert, AlertMonitor
from core.gateway.app import PURPOSE, Gateway, create_app
from core.gateway.auth import TOKEN_NAME, GatewayToken, gateway_token
from core.gateway.server import GatewayServer, is_loopback, start_gateway

__all__ = [
    "ALERT",
    "PURPOSE",
    "TOKEN_NAME",
    "Alert",
    "AlertMonitor",
    "Gateway",
    "GatewayServer",
    "GatewayToken",
    "create_app",
    "gateway_token",
    "is_loopback",
    "start_gateway",
]
