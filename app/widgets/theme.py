"""The theme in force: light or dark, following the operating system or the user's
choice in Settings → Appearance.

- :func:`theme_manager` is the one :class:`ThemeManager` of the running QApplication:
  ``mode`` is ``"system"``, ``"light"`` or ``"dark"``; ``changed(Theme)`` fires after the
  palette and stylesheet (:mod:`app.widgets.stylesheet`) are applied, and icons and
  charts redraw on it.
- :func:`current_theme` is the theme in force; :func:`tier_color` a tier's colour in it.
- After changing a widget's style property at run time, call :func:`repolish`.

The colours, spacing and type scale themselves are in :mod:`app.widgets.design`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from app.widgets.design import DARK, LIGHT, Theme
from app.widgets.stylesheet import palette_for, stylesheet

__all__ = [
    "MODES",
    "ThemeManager",
    "current_theme",
    "repolish",
    "theme_manager",
    "tier_color",
]

MODES = ("system", "light", "dark")


def tier_color(tier: str | None) -> str:
    """The colour of ``tier`` in the current theme (unknown tiers share ``other``)."""
    tiers = current_theme().tiers
    return tiers.get(tier or "other", tiers["other"])


def repolish(widget: QWidget) -> None:
    """Re-apply the stylesheet after a dynamic property changed."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class ThemeManager(QObject):
    """Applies the theme to the application and follows the OS colour scheme.

    ``scheme_source`` reports the OS colour scheme (tests inject their own); while
    ``mode`` is ``"system"`` a ``colorSchemeChanged`` of the style hints re-applies.
    """

    changed = Signal(object)

    @staticmethod
    def default_scheme_source() -> Qt.ColorScheme:
        """The OS colour scheme, as Qt reports it (``Unknown`` where it cannot tell)."""
        return QGuiApplication.styleHints().colorScheme()

    def __init__(
        self,
        app: QApplication,
        scheme_source: Callable[[], Qt.ColorScheme] | None = None,
    ) -> None:
        super().__init__(app)
        self.setObjectName("themeManager")
        self.mode = "system"
        self.theme = LIGHT
        self.scheme_source: Callable[[], Qt.ColorScheme] = (
            scheme_source or ThemeManager.default_scheme_source
        )
        self.applied = False  # True once a theme is on the application
        self._switching = False
        QGuiApplication.styleHints().colorSchemeChanged.connect(self.on_scheme_changed)

    def set_mode(self, mode: str) -> None:
        """Apply ``"system"``, ``"light"`` or ``"dark"`` now; ``changed`` fires after."""
        if mode not in MODES:
            raise ValueError(f"theme mode {mode!r} is not one of {', '.join(MODES)}")
        self._switching = True
        try:
            self._request_scheme(mode)
        finally:
            self._switching = False
        self.mode = mode
        self.apply()

    def resolve(self) -> Theme:
        """The theme ``mode`` stands for now (``"system"``: dark only if the OS says so)."""
        if self.mode == "system":
            return DARK if self.scheme_source() == Qt.ColorScheme.Dark else LIGHT
        return DARK if self.mode == "dark" else LIGHT

    def apply(self) -> None:
        """Palette and stylesheet of :meth:`resolve` onto the application."""
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        # Set first: widgets redraw from current_theme() on the palette change events.
        self.theme = self.resolve()
        if not self.applied:
            app.setStyle("Fusion")
            self.applied = True
        app.setPalette(palette_for(self.theme))
        sheet = stylesheet(self.theme, app.font())
        if app.styleSheet() != sheet:
            app.setStyleSheet(sheet)
        self.changed.emit(self.theme)

    def on_scheme_changed(self, _scheme: Qt.ColorScheme | None = None) -> None:
        """The OS switched light/dark: follow it while in ``"system"`` mode."""
        if self.mode == "system" and not self._switching:
            self.apply()

    def _request_scheme(self, mode: str) -> None:
        """Tell Qt the chosen scheme too, so native title bars and dialogs match (a
        no-op where the platform cannot)."""
        hints = QGuiApplication.styleHints()
        if mode == "system":
            hints.unsetColorScheme()
        else:
            hints.setColorScheme(Qt.ColorScheme.Dark if mode == "dark" else Qt.ColorScheme.Light)


def theme_manager() -> ThemeManager:
    """The application's one :class:`ThemeManager` (made on first use)."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    found = app.findChild(ThemeManager)
    return found if found is not None else ThemeManager(app)


def current_theme() -> Theme:
    """The theme in force (:data:`LIGHT` before any was applied)."""
    app = QApplication.instance()
    found = app.findChild(ThemeManager) if isinstance(app, QApplication) else None
    return found.theme if found is not None else LIGHT
