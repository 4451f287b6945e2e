"""How the app opens (and re-opens) its engine: one KeyStore for keys, redacted logs.

Like :func:`core.cli.common.open_engine`, but the :class:`~core.keys.KeyStore` is made
once and shared with the Settings view, so a key saved there is the key the next
engine uses, and a config saved there re-opens the engine over the same data dir.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.cli.common import data_dir_from
from core.config import CentwiseConfig
from core.engine import Engine
from core.events import EventHub
from core.keys import KeyStore, log_warnings_redacted

__all__ = ["EngineFactory", "EngineOpener", "open_app_engine"]

#: Re-opens the engine with a config (an :class:`EngineFactory` is one).
EngineOpener = Callable[[CentwiseConfig], Engine]


@dataclass(slots=True)
class EngineFactory:
    """Opens engines over one data dir with one key store and one event hub."""

    data_dir: Path
    keys: KeyStore
    events: EventHub | None = None

    def __call__(
        self, config: CentwiseConfig, *, recover: bool = False, warm: bool = True
    ) -> Engine:
        """Open an engine; ``warm=False`` leaves the tokenizer to :meth:`Engine.warm_up`."""
        engine = Engine.open(
            config,
            self.data_dir,
            key_lookup=self.keys.lookup_for(config),
            recover_ledger=recover,
            events=self.events,
            warm_tokenizer=warm,
        )
        self.events = engine.events  # later engines keep the listeners of the first
        # The app and its gateway share this ledger: no checkpoint stalls inside commits.
        engine.checkpoint_in_background()
        return engine


def open_app_engine(
    args: argparse.Namespace, config: CentwiseConfig, keys: KeyStore
) -> tuple[Engine, EngineFactory]:
    """The first engine for ``args`` and the factory that re-opens it."""
    log_warnings_redacted(keys)
    factory = EngineFactory(data_dir_from(args), keys)
    # The window shows first; the bridge warms the tokenizer on its loop afterwards.
    engine = factory(config, recover=bool(getattr(args, "recover", False)), warm=False)
    return engine, factory
