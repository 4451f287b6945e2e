"""httpx over aiohttp (``[network] transport = "aiohttp"``), imported only when chosen.

:class:`AiohttpClient` is httpx-aiohttp's ``HttpxAiohttpClient`` (so httpx still builds
the transports itself, proxy mounts from the environment included) with two fixes
in :meth:`AiohttpClient.send`, so that callers see httpx's errors as with httpx's own
transport:

* httpx-aiohttp 0.2 maps every ``aiohttp.ClientConnectionError`` to
  ``httpx.ConnectTimeout``, so a refused connection, a certificate that does not
  verify or a server that hangs up would read "timed out connecting": they get back
  the httpx error they are;
* a reply aiohttp's parser refuses (a bad status line or header, a duplicate
  ``Content-Length``) escapes it as ``aiohttp.ClientResponseError``: it becomes
  ``httpx.RemoteProtocolError``, as httpx's own parser reports it.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import HttpxAiohttpClient

__all__ = ["AiohttpClient", "real_error"]


def real_error(exc: httpx.ConnectTimeout, request: httpx.Request) -> httpx.TransportError:
    """The httpx error ``exc`` stands for, judged by the aiohttp error it came from."""
    cause = exc.__cause__
    if isinstance(cause, TimeoutError) or not isinstance(cause, aiohttp.ClientConnectionError):
        return exc  # a timeout indeed
    if isinstance(cause, aiohttp.ClientConnectorError):  # refused, DNS, TLS verification
        return httpx.ConnectError(str(cause), request=request)
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(str(cause), request=request)
    return httpx.ReadError(str(cause), request=request)


class AiohttpClient(HttpxAiohttpClient):
    """``HttpxAiohttpClient`` whose connection failures are not reported as timeouts."""

    async def send(self, request: httpx.Request, *args: Any, **kwargs: Any) -> httpx.Response:
        try:
            return await super().send(request, *args, **kwargs)
        except httpx.ConnectTimeout as exc:
            error = real_error(exc, request)
            if error is exc:
                raise
            raise error from exc.__cause__
        except aiohttp.ClientResponseError as exc:  # left unmapped by httpx-aiohttp
            raise httpx.RemoteProtocolError(exc.message, request=request) from exc
