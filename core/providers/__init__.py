"""Providers: one module per service behind :class:`core.providers.base.Provider`."""

from core.providers.base import Completion, Provider, load_provider_class

__all__ = ["Completion", "Provider", "load_provider_class"]
