"""Where the app keeps window geometry and the last view (QSettings, org "Centwise")."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

__all__ = ["SETTINGS_DIR_ENV", "open_settings"]

# Tests and screenshots point this at a temporary directory.
SETTINGS_DIR_ENV = "CENTWISE_SETTINGS_DIR"


def open_settings(directory: str | Path | None = None) -> QSettings:
    """An INI file under ``directory`` (or ``$CENTWISE_SETTINGS_DIR``), else the OS default."""
    chosen = directory or os.environ.get(SETTINGS_DIR_ENV)
    if chosen:
        path = Path(chosen).expanduser() / "centwise-app.ini"
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings("Centwise", "Centwise")
