"""The application's palette and its one stylesheet, generated from a :class:`Theme`.

Widgets opt into styles with dynamic properties, never inline colours: QLabel ``role`` =
``"title" | "subtitle" | "muted"``; badge QLabels ``badge`` = ``"primary" | "secondary" |
"tertiary"`` with a ``tone`` (:data:`app.widgets.design.TONES`); ``QPushButton[primary]``,
``QToolButton[feedback]``, ``QFrame[card]``, a Compare column's ``QFrame[tier]``, the
sidebar ``QListWidget#nav`` and the empty-state panel ``QFrame#emptyState``. Font sizes
are relative to the application font.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette

from app.widgets.design import (
    SPACE,
    TONES,
    TYPE_SCALE,
    Theme,
    button_color,
    checked_color,
    field_edge,
    mix,
    tone_color,
    tone_tint,
)

__all__ = ["palette_for", "stylesheet"]


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
        r.Button: button_color(t),
        r.ButtonText: t.text,
        r.BrightText: t.on_tone,
        r.Light: mix(button_color(t), "#ffffff", 0.9 if t.is_dark else 1.0),
        r.Midlight: mix(t.border, button_color(t), 0.5),
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
    background: {checked_color(t)}; border: 2px solid {t.accent}; padding: {s0}px;
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
    border: 1px solid {field_edge(t)}; border-radius: {s0}px; background: {t.surface};
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
