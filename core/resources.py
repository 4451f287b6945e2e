"""Where Centwise's bundled data files (price table, ...) live."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["RESOURCES_ENV", "resource_path"]

RESOURCES_ENV = "CENTWISE_RESOURCES"


def resource_path(name: str) -> Path:
    """Path of bundled resource ``name``: under ``$CENTWISE_RESOURCES`` when set, else the
    ``resources/`` directory next to the ``core`` package. The file may not exist."""
    base = os.environ.get(RESOURCES_ENV)
    root = Path(base).expanduser() if base else Path(__file__).resolve().parent.parent / "resources"
    return root / name
