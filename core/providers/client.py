"""The one factory for every outgoing ``httpx.AsyncClient``: providers, remote embedders
and alert webhooks.

``[network] transport`` picks the HTTP/1.1 implementation under httpx: httpx's own
(httpcore and h11) or aiohttp's, through ``httpx-aiohttp`` (the transport the OpenAI
SDK offers; see core/providers/_aiohttp.py). Either way httpx builds the transports
itself, so:

* proxies come from ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY``
  when ``trust_env`` is true (httpx mounts a proxy transport per pattern; it does so
  only when no transport is passed in, which is why none is);
* TLS is verified against certifi's CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when
  ``trust_env`` is true, plus ``[network] ca_bundle``; the context is built here, fresh
  for each client, so no caller's context is ever changed;
* connections are capped at ``max_connections`` (all kept alive while idle, for up to
  ``keepalive_expiry_seconds``), and a request waits at most ``pool_timeout_seconds``
  for a free one.
"""

from __future__ import annotations

import ssl

import httpx

from core.config import NetworkConfig, load_ca_bundle
from core.errors import ConfigError

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "make_client", "tls_context"]

#: A client's timeout for calls that set none of their own (providers always do).
DEFAULT_TIMEOUT_SECONDS = 60.0


def tls_context(network: NetworkConfig, *, trust_env: bool = True) -> ssl.SSLContext:
    """A new verifying context: certifi's CAs (or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
    with ``trust_env``), plus ``network.ca_bundle``. A bundle that cannot be loaded is a
    :class:`ConfigError` naming the key and the path."""
    context = httpx.create_ssl_context(verify=True, trust_env=trust_env)
    if network.ca_bundle is not None:
        try:
            load_ca_bundle(context, network.ca_bundle)
        except ValueError as e:
            raise ConfigError(f"network.ca_bundle: {e}") from None
    return context


def make_client(
    network: NetworkConfig | None = None,
    *,
    trust_env: bool = True,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> httpx.AsyncClient:
    """A client for outgoing calls, set up from ``[network]`` (the defaults if None).

    ``trust_env=False`` ignores proxy and CA variables (tests talking to loopback
    servers). Redirects are never followed: a provider that moved is an error to see.
    """
    network = network or NetworkConfig()
    cls: type[httpx.AsyncClient] = httpx.AsyncClient
    if network.transport == "aiohttp":
        # Imported here: aiohttp costs start-up time that the default never needs.
        from core.providers._aiohttp import AiohttpClient

        cls = AiohttpClient
    return cls(
        verify=tls_context(network, trust_env=trust_env),
        trust_env=trust_env,
        http2=False,
        follow_redirects=False,
        limits=httpx.Limits(
            max_connections=network.max_connections,
            max_keepalive_connections=network.max_connections,
            keepalive_expiry=network.keepalive_expiry_seconds,
        ),
        timeout=httpx.Timeout(timeout, pool=network.pool_timeout_seconds),
    )
