"""The ``httpx.AsyncClient`` every provider call goes through unless the caller injects one."""

from __future__ import annotations

import httpx

from core.providers._pool import LeanTransport

__all__ = ["default_client"]


def default_client() -> httpx.AsyncClient:
    """Provider calls go through :class:`LeanTransport`: httpx's pool costs more per
    request the more streams are open (see core.providers._pool)."""
    return httpx.AsyncClient(http2=False, follow_redirects=False, transport=LeanTransport())
