"""Settings → Appearance: follow the system's light/dark choice, or override it.

The choice applies at once and is kept in QSettings (``appearance/theme``), which
:func:`app.main.run_app` reads at start-up; it is not part of the TOML config, which
describes the engine, not this desktop.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from app.runtime.settings_store import open_settings
from app.widgets.design import SPACE
from app.widgets.theme import MODES, theme_manager

__all__ = ["THEME_KEY", "AppearancePanel", "stored_theme_mode"]

THEME_KEY = "appearance/theme"
_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}


def stored_theme_mode(settings: QSettings) -> str:
    """The theme mode kept in ``settings``; ``"system"`` when none or not a mode."""
    value = settings.value(THEME_KEY, "system")
    return value if isinstance(value, str) and value in MODES else "system"


class AppearancePanel(QWidget):
    """The theme combo: "Follow the system", "Light" or "Dark"."""

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else open_settings()
        self.combo = QComboBox()
        self.combo.setObjectName("theme_mode")
        self.combo.setAccessibleName("Theme")
        for mode in MODES:
            self.combo.addItem(_LABELS[mode], mode)
        self.combo.setCurrentIndex(self.combo.findData(stored_theme_mode(self.settings)))
        self.combo.currentIndexChanged.connect(self._chosen)
        hint = QLabel("Light or dark colours for Centwise; applies at once.")
        hint.setProperty("role", "muted")
        hint.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Theme", self.combo)
        layout = QVBoxLayout(self)
        layout.setSpacing(SPACE[1])
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addStretch(1)

    def mode(self) -> str:
        return str(self.combo.currentData())

    def _chosen(self, _index: int) -> None:
        mode = self.mode()
        theme_manager().set_mode(mode)
        self.settings.setValue(THEME_KEY, mode)
        self.settings.sync()
