"""What the GUI needs that :class:`core.engine.Engine` does not say directly yet.

Each function uses only public Engine attributes and is a candidate for the facade
(see the note on each). Keeping them here means widgets never reach into the engine.
"""

from __future__ import annotations

from core.config import CentwiseConfig
from core.engine import Engine

__all__ = ["price_source", "runs_only_on_simulator", "startup_warnings"]


def price_source(engine: Engine) -> str:
    """Where the price table came from, in words. (Wanted: ``Engine.price_source``.)"""
    return str(getattr(engine.prices, "source", "unknown"))


def startup_warnings(engine: Engine) -> list[str]:
    """Warnings emitted while the engine opened, before any listener could subscribe.

    (Wanted: ``Engine.startup_warnings`` or an ``events`` argument to ``open_engine``.)
    """
    kept = getattr(engine.ledger, "recovered_from", None)
    return [f"the ledger was unreadable and kept at {kept}"] if kept else []


def runs_only_on_simulator(config: CentwiseConfig) -> bool:
    """True when every tier and fallback goes to a Simulator provider."""
    names = {t.provider for t in config.routing.tiers}
    names |= {f.provider for t in config.routing.tiers for f in t.fallbacks}
    return all(config.providers[n].kind == "simulator" for n in names)
