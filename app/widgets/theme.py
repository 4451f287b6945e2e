"""Light and dark themes: one palette, one stylesheet, one set of tier colours.

- :class:`Theme` holds every colour the app draws with, as ``#rrggbb`` strings.
- :func:`current_theme` is the theme in force; :func:`tier_color` a tier's colour in it.
- :func:`theme_manager` is the one :class:`ThemeManager` of the running QApplication:
  ``mode`` is ``"system"``, ``"light"`` or ``"dark"``; ``changed(Theme)`` fires after the
  palette and stylesheet are applied (icons and charts redraw on it).
- Widgets opt into styles with dynamic properties, never inline colours:
  QLabel ``role`` = ``"title" | "subtitle" | "muted"``; badge QLabels ``badge`` =
  ``"primary" | "secondary" | "tertiary"`` and ``tone`` = ``"neutral" | "good" | "warn" |
  "bad" | "info" | "tier-fast" | "tier-balanced" | "tier-premium" | "tier-other"``;
  ``QPushButton[primary="true"]``, ``QToolButton[feedback="true"]``, the sidebar
  ``QListWidget#nav`` and the empty-state panel ``QFrame#emptyState``.
  After changing a property at run time call :func:`repolish`.
- Spacing and type scale: :data:`SPACE` (4, 8, 12, 16, 24 px) and :data:`TYPE_SCALE`
  (point-size multipliers of the application font, so 150 % and 200 % scaling hold).
- Every text colour on every background the palette and stylesheet use is listed by
  :func:`text_pairs` and meets WCAG AA (:func:`contrast_ratio` ≥ 4.5); the chart fills
  of :func:`chart_fill_pairs` meet the 3:1 non-text target. A test checks both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

__all__ = [
    "BANNER_LEVELS",
    "DARK",
    "LIGHT",
    "MODES",
    "SPACE",
    "TONES",
    "TYPE_SCALE",
    "Theme",
    "ThemeManager",
    "banner_colors",
    "chart_fill_pairs",
    "contrast_ratio",
    "current_theme",
    "mix",
    "palette_for",
    "repolish",
    "stylesheet",
    "text_pairs",
    "theme_manager",
    "tier_color",
    "tone_color",
    "tone_tint",
]

MODES = ("system", "light", "dark")
SPACE = (4, 8, 12, 16, 24)
TYPE_SCALE = {"small": 0.9, "body": 1.0, "subtitle": 1.15, "title": 1.45}
TONES = (
    "neutral",
    "good",
    "warn",
    "bad",
    "info",
    "tier-fast",
    "tier-balanced",
    "tier-premium",
    "tier-other",
)
BANNER_LEVELS = ("info", "warning", "error")


@dataclass(frozen=True, slots=True)
class Theme:
    """Every colour of one theme (``#rrggbb``).

    ``window`` is behind the widgets, ``surface`` behind content (inputs, tables, charts),
    ``surface_alt`` behind secondary content (alternate rows, tooltips, empty states).
    ``good``/``warn``/``bad``/``info`` and ``tiers`` are readable as text on all three and
    as fills; ``on_tone`` is the text on a filled (primary) badge of any tone. ``banners``
    maps a message level to its (background, text); ``series`` are the chart colours
    besides the tiers, in the order spend, forecast, savings, rates, counts, alerts;
    ``disabled`` is the text of disabled controls (which WCAG exempts).
    """

    name: str
    is_dark: bool
    window: str
    surface: str
    surface_alt: str
    text: str
    muted: str
    border: str
    accent: str
    accent_text: str
    good: str
    warn: str
    bad: str
    info: str
    link: str
    disabled: str
    on_tone: str
    banners: dict[str, tuple[str, str]]
    series: tuple[str, ...]
    tiers: dict[str, str] = field(default_factory=dict)


LIGHT = Theme(
    name="light",
    is_dark=False,
    window="#f4f5f7",
    surface="#ffffff",
    surface_alt="#eceef2",
    text="#1d2330",
    muted="#535c6b",
    border="#c9ced6",
    accent="#2660c4",
    accent_text="#ffffff",
    good="#1b6e3f",
    warn="#7f5200",
    bad="#b0241c",
    info="#2660c4",
    link="#2158b5",
    disabled="#8b929d",
    on_tone="#ffffff",
    banners={
        "info": ("#e4eefc", "#153c75"),
        "warning": ("#fcf1d6", "#5c3b00"),
        "error": ("#fce6e4", "#8a1c16"),
    },
    series=("#2660c4", "#b35c00", "#1b6e3f", "#8a46c0", "#5f6877", "#b0241c"),
    tiers={"fast": "#1f66b3", "balanced": "#1d7146", "premium": "#8445bd", "other": "#9a520f"},
)
DARK = Theme(
    name="dark",
    is_dark=True,
    window="#1b1e24",
    surface="#23272f",
    surface_alt="#2c313a",
    text="#e6e9ef",
    muted="#a7afbc",
    border="#434a56",
    accent="#5b9cf0",
    accent_text="#0f1216",
    good="#5cc98a",
    warn="#e7b54a",
    bad="#f58b82",
    info="#7fb2f5",
    link="#8bbaf7",
    disabled="#6f7785",
    on_tone="#111418",
    banners={
        "info": ("#1d3049", "#d3e4fc"),
        "warning": ("#3b2f12", "#f5dda2"),
        "error": ("#46211f", "#fbcdc8"),
    },
    series=("#5b9cf0", "#eba355", "#5cc98a", "#bb8ee8", "#9aa3b1", "#f58b82"),
    tiers={"fast": "#66aaf0", "balanced": "#52c285", "premium": "#c197ec", "other": "#e39b4e"},
)


# -- colour arithmetic ---------------------------------------------------------------


def _rgb(color: str) -> tuple[int, int, int]:
    c = QColor(color)
    return c.red(), c.green(), c.blue()


def mix(a: str, b: str, t: float) -> str:
    """``t`` of ``a`` over ``1 - t`` of ``b`` (``mix(tone, surface, 0.12)`` is a tint)."""
    ra, rb = _rgb(a), _rgb(b)
    return "#" + "".join(f"{round(x * t + y * (1 - t)):02x}" for x, y in zip(ra, rb, strict=True))


def _luminance(color: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(x) for x in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg: str, bg: str) -> float:
    """WCAG 2.x contrast ratio of two colours, 1.0 to 21.0 (AA text needs 4.5)."""
    lighter, darker = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# -- what each tone, tier and level reads as -------------------------------------------


def tone_color(tone: str, theme: Theme | None = None) -> str:
    """The text (and fill) colour of a badge ``tone``; unknown tones read neutral."""
    t = theme or current_theme()
    if tone.startswith("tier-"):
        return t.tiers.get(tone[5:], t.tiers["other"])
    return {"good": t.good, "warn": t.warn, "bad": t.bad, "info": t.info}.get(tone, t.muted)


def tone_tint(tone: str, theme: Theme | None = None) -> str:
    """The faint background of an outlined (secondary) badge of ``tone``."""
    t = theme or current_theme()
    return mix(tone_color(tone, t), t.surface, 0.12 if t.is_dark else 0.1)


def banner_colors(level: str, theme: Theme | None = None) -> tuple[str, str]:
    """(background, text) of a message banner at ``level``; unknown levels read info."""
    t = theme or current_theme()
    return t.banners.get(level, t.banners["info"])


def _button(t: Theme) -> str:
    return t.surface_alt if t.is_dark else t.surface


def _checked(t: Theme) -> str:
    """The background of a checked tool button: a strong tint of the accent."""
    return mix(t.accent, t.surface, 0.28 if t.is_dark else 0.16)


def text_pairs(theme: Theme) -> list[tuple[str, str, str]]:
    """(what, text, background) for every text colour the palette and stylesheet put on
    a background; each must reach 4.5:1. Disabled text is left out (WCAG exempts it)."""
    t = theme
    pairs = [
        ("text on window", t.text, t.window),
        ("text on surface (inputs, tables, charts)", t.text, t.surface),
        ("text on surface_alt (tooltips, alternate rows, hover)", t.text, t.surface_alt),
        ("text on buttons", t.text, _button(t)),
        ("text on a checked tool button", t.text, _checked(t)),
        ("muted on window", t.muted, t.window),
        ("muted/placeholder on surface", t.muted, t.surface),
        ("muted on surface_alt (empty state)", t.muted, t.surface_alt),
        ("accent_text on accent (primary buttons, selection, nav)", t.accent_text, t.accent),
        ("link on surface", t.link, t.surface),
        ("link on window", t.link, t.window),
    ]
    for tone in TONES:
        fg = tone_color(tone, t)
        pairs += [
            (f"{tone} badge text on window", fg, t.window),
            (f"{tone} badge text on surface", fg, t.surface),
            (f"{tone} badge text on surface_alt", fg, t.surface_alt),
            (f"{tone} secondary badge text on its tint", fg, tone_tint(tone, t)),
            (f"on_tone on a filled {tone} badge", t.on_tone, fg),
        ]
    for level in BANNER_LEVELS:
        bg, fg = banner_colors(level, t)
        pairs.append((f"{level} banner text", fg, bg))
    return pairs


def chart_fill_pairs(theme: Theme) -> list[tuple[str, str, str]]:
    """(what, fill, chart background) for every series colour; each must reach 3:1."""
    fills = [(f"tier {k}", v) for k, v in theme.tiers.items()]
    fills += [(f"series {i}", c) for i, c in enumerate(theme.series)]
    return [(what, color, theme.surface) for what, color in fills]


# -- palette and stylesheet ------------------------------------------------------------


def palette_for(theme: Theme) -> QPalette:
    """A full QPalette of ``theme``, disabled text included."""
    t = theme
    r = QPalette.ColorRole
    dark_edge = mix(t.border, "#000000", 0.7)
    colors = {
        r.Window: t.window,
        r.WindowText: t.text,
        r.Base: t.surface,
        r.AlternateBase: t.surface_alt,
        r.ToolTipBase: t.surface_alt,
        r.ToolTipText: t.text,
        r.PlaceholderText: t.muted,
        r.Text: t.text,
        r.Button: _button(t),
        r.ButtonText: t.text,
        r.BrightText: t.on_tone,
        r.Light: mix(_button(t), "#ffffff", 0.9 if t.is_dark else 1.0),
        r.Midlight: mix(t.border, _button(t), 0.5),
        r.Mid: t.border,
        r.Dark: dark_edge,
        r.Shadow: "#000000",
        r.Highlight: t.accent,
        r.HighlightedText: t.accent_text,
        r.Link: t.link,
        r.LinkVisited: t.link,
        r.Accent: t.accent,
    }
    palette = QPalette()
    for role, color in colors.items():
        palette.setColor(role, QColor(color))  # every colour group
    disabled = QPalette.ColorGroup.Disabled
    for role in (r.WindowText, r.Text, r.ButtonText, r.PlaceholderText, r.HighlightedText):
        palette.setColor(disabled, role, QColor(t.disabled))
    palette.setColor(disabled, r.Highlight, QColor(mix(t.accent, t.window, 0.4)))
    palette.setColor(disabled, r.Base, QColor(t.window))
    palette.setColor(disabled, r.Button, QColor(t.window))
    return palette


def _size(font: QFont, scale: float) -> str:
    """A font size relative to the application font: points when it has them."""
    if font.pointSizeF() > 0:
        return f"{font.pointSizeF() * scale:.1f}pt"
    return f"{round(font.pixelSize() * scale)}px"


def stylesheet(theme: Theme, font: QFont | None = None) -> str:
    """The one application stylesheet of ``theme``; sizes scale with ``font``."""
    t = theme
    f = font if font is not None else QFont()
    s0, s1, s2, s3, s4 = SPACE
    title, subtitle, small = (_size(f, TYPE_SCALE[k]) for k in ("title", "subtitle", "small"))
    rules = [
        f"""
QLabel[role="title"] {{ font-size: {title}; font-weight: 600; color: {t.text}; }}
QLabel[role="subtitle"] {{ font-size: {subtitle}; font-weight: 600; color: {t.text}; }}
QLabel[role="muted"] {{ color: {t.muted}; }}
QLabel[badge="primary"] {{
    font-size: {subtitle}; font-weight: 700; color: {t.on_tone};
    background: {t.muted}; border-radius: {s1}px; padding: {s0 // 2}px {s2}px;
}}
QLabel[badge="secondary"] {{
    color: {t.muted}; background: {tone_tint("neutral", t)};
    border: 1px solid {t.muted}; border-radius: {s1 - 1}px; padding: 1px {s1}px;
}}
QLabel[badge="tertiary"] {{ font-size: {small}; color: {t.muted}; }}
"""
    ]
    for tone in TONES[1:]:
        fg = tone_color(tone, t)
        rules.append(
            f'QLabel[badge="primary"][tone="{tone}"] {{ background: {fg}; }}\n'
            f'QLabel[badge="secondary"][tone="{tone}"] {{ color: {fg}; '
            f"background: {tone_tint(tone, t)}; border-color: {fg}; }}\n"
            f'QLabel[badge="tertiary"][tone="{tone}"] {{ color: {fg}; }}\n'
        )
    rules.append(
        f"""
QListWidget#nav {{
    border: 2px solid transparent; border-radius: {s1}px;
    background: {t.window}; color: {t.text}; outline: 0; padding: {s0}px;
}}
QListWidget#nav:focus {{ border-color: {t.accent}; }}
QListWidget#nav::item {{
    padding: {s1}px {s2}px; margin: 1px 0; border-radius: {s1 - 2}px; color: {t.text};
}}
QListWidget#nav::item:hover {{ background: {t.surface_alt}; }}
QListWidget#nav::item:selected {{ background: {t.accent}; color: {t.accent_text}; }}
QToolButton[feedback="true"] {{
    border: 1px solid {t.border}; border-radius: {s1 - 2}px; padding: {s0 + 1}px;
    background: transparent;
}}
QToolButton[feedback="true"]:hover {{ background: {t.surface_alt}; }}
QToolButton[feedback="true"]:checked {{
    background: {_checked(t)}; border: 2px solid {t.accent}; padding: {s0}px;
}}
QToolButton[feedback="true"]:focus {{ border: 2px solid {t.accent}; padding: {s0}px; }}
QToolButton[feedback="true"]:checked:focus {{ border-color: {t.text}; }}
QToolButton[feedback="true"]:disabled {{ border-color: {t.surface_alt}; }}
QPushButton[primary="true"] {{
    background: {t.accent}; color: {t.accent_text}; font-weight: 600;
    border: 2px solid {t.accent}; border-radius: {s1 - 2}px; padding: {s0 + 1}px {s3}px;
}}
QPushButton[primary="true"]:hover {{ background: {mix(t.accent, t.text, 0.88)}; }}
QPushButton[primary="true"]:pressed {{ background: {mix(t.accent, t.text, 0.76)}; }}
QPushButton[primary="true"]:focus {{ border-color: {t.text if not t.is_dark else t.window}; }}
QPushButton[primary="true"]:disabled {{
    background: {t.surface_alt}; color: {t.disabled}; border-color: {t.surface_alt};
}}
QTableView {{
    gridline-color: {t.border}; background: {t.surface}; color: {t.text};
    alternate-background-color: {t.surface_alt};
    selection-background-color: {t.accent}; selection-color: {t.accent_text};
}}
QTabWidget::pane {{ border: 1px solid {t.border}; border-radius: {s0}px; top: -1px; }}
QTabBar::tab {{
    padding: {s1 - 2}px {s2}px; color: {t.muted}; background: transparent;
    border: none; border-bottom: 2px solid transparent;
}}
QTabBar::tab:hover {{ color: {t.text}; background: {t.surface_alt}; }}
QTabBar::tab:selected {{ color: {t.text}; border-bottom-color: {t.accent}; }}
QTabBar::tab:focus {{ background: {t.surface_alt}; color: {t.text}; }}
QGroupBox {{
    border: 1px solid {t.border}; border-radius: {s1 - 2}px;
    margin-top: 1.2em; padding: {s1}px {s0}px {s0}px {s0}px;
}}
QGroupBox::title {{
    subcontrol-origin: margin; subcontrol-position: top left;
    left: {s1}px; padding: 0 {s0}px; color: {t.text}; font-weight: 600;
}}
QLineEdit, QPlainTextEdit, QTextEdit {{
    border: 1px solid {t.border}; border-radius: {s0}px; background: {t.surface};
    color: {t.text}; padding: {s0}px {s1 - 2}px;
    selection-background-color: {t.accent}; selection-color: {t.accent_text};
}}
QLineEdit:focus, QPlainTextEdit:focus, QTextEdit:focus {{
    border: 2px solid {t.accent}; padding: {s0 - 1}px {s1 - 3}px;
}}
QLineEdit:disabled, QPlainTextEdit:disabled, QTextEdit:disabled {{
    background: {t.window}; color: {t.disabled};
}}
QLineEdit:read-only, QPlainTextEdit:read-only, QTextEdit:read-only {{
    background: {t.window};
}}
QToolTip {{
    color: {t.text}; background: {t.surface_alt}; border: 1px solid {t.border};
    padding: {s0}px {s1 - 2}px;
}}
QFrame#emptyState {{
    background: {t.surface_alt}; border: 1px solid {t.border};
    border-radius: {s1}px; padding: {s4}px;
}}
QFrame#emptyState QLabel {{ background: transparent; }}
QFrame[card="true"] {{
    background: {t.surface}; border: 1px solid {t.border}; border-radius: {s1}px;
}}
"""
    )
    for tier, color in t.tiers.items():  # a Compare column's top edge in its tier's colour
        rules.append(
            f'QFrame[tier="{tier}"] {{ border: 1px solid {t.border}; '
            f"border-top: 3px solid {color}; border-radius: {s0}px; }}\n"
        )
    return "".join(rules)


# -- the manager -----------------------------------------------------------------------


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
