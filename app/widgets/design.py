"""The design tokens: every colour of the light and dark themes, the spacing scale
and the type scale, with the contrast arithmetic that checks them.

- :class:`Theme` holds every colour the app draws with, as ``#rrggbb`` strings;
  :data:`LIGHT` and :data:`DARK` are the two themes.
- :data:`SPACE` (4, 8, 12, 16, 24 px) and :data:`TYPE_SCALE` (point-size multipliers of
  the application font, so 150 % and 200 % scaling hold).
- Every text colour on every background the palette and stylesheet use is listed by
  :func:`text_pairs` and meets WCAG AA (:func:`contrast_ratio` ≥ 4.5); the chart fills
  of :func:`chart_fill_pairs` and a text field's edge (:func:`field_edge`) meet the
  3:1 non-text target. A test checks them all.

Plain data and arithmetic: the stylesheet (:mod:`app.widgets.stylesheet`) and the
theme manager (:mod:`app.widgets.theme`) are built on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtGui import QColor

__all__ = [
    "BANNER_LEVELS",
    "DARK",
    "LIGHT",
    "SPACE",
    "TONES",
    "TYPE_SCALE",
    "Theme",
    "banner_colors",
    "button_color",
    "chart_fill_pairs",
    "checked_color",
    "contrast_ratio",
    "field_edge",
    "mix",
    "text_pairs",
    "tone_color",
    "tone_tint",
]

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


def tone_color(tone: str, theme: Theme) -> str:
    """The text (and fill) colour of a badge ``tone``; unknown tones read neutral."""
    t = theme
    if tone.startswith("tier-"):
        return t.tiers.get(tone[5:], t.tiers["other"])
    return {"good": t.good, "warn": t.warn, "bad": t.bad, "info": t.info}.get(tone, t.muted)


def tone_tint(tone: str, theme: Theme) -> str:
    """The faint background of an outlined (secondary) badge of ``tone``."""
    t = theme
    return mix(tone_color(tone, t), t.surface, 0.12 if t.is_dark else 0.1)


def banner_colors(level: str, theme: Theme) -> tuple[str, str]:
    """(background, text) of a message banner at ``level``; unknown levels read info."""
    t = theme
    return t.banners.get(level, t.banners["info"])


def button_color(t: Theme) -> str:
    """The face of a push button."""
    return t.surface_alt if t.is_dark else t.surface


def checked_color(t: Theme) -> str:
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
        ("text on buttons", t.text, button_color(t)),
        ("text on a checked tool button", t.text, checked_color(t)),
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


def field_edge(theme: Theme) -> str:
    """The edge of a text field: the faintest mix of ``border`` towards ``muted`` that
    reaches WCAG's 3:1 for a control's boundary on both backgrounds."""
    for step in range(20, -1, -1):
        edge = mix(theme.border, theme.muted, step / 20)
        if all(contrast_ratio(edge, bg) >= 3.0 for bg in (theme.window, theme.surface)):
            return edge
    return theme.muted
