"""The interface icons (Lucide SVGs in ``resources/icons/ui``), drawn in a theme colour.

The SVGs stroke with ``currentColor``; Qt's SVG renderer has no notion of it, so the
colour is written into the SVG text before it is rendered. An icon is drawn at the size
and pixel ratio it is shown at (crisp at 150% and 200%), the first time it is shown;
icons are cached per name and colour, their pixmaps per size.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QIcon,
    QIconEngine,
    QImage,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtSvg import QSvgRenderer

from core.resources import resource_path

__all__ = ["ICON_NAMES", "icon", "icon_svg"]

# Every icon the app draws (and only those are bundled); a test checks each draws.
ICON_NAMES = (
    "message-square",
    "columns-2",
    "chart-column",
    "history",
    "database-zap",
    "flask-conical",
    "settings",
    "thumbs-up",
    "thumbs-down",
    "send",
    "square",
    "keyboard",
    "info",
    "triangle-alert",
    "circle-x",
    "x",
    "circle-help",
)


def icon_svg(name: str) -> str:
    """The SVG text of icon ``name``; ``FileNotFoundError`` names it when not bundled."""
    path = resource_path(f"icons/ui/{name}.svg")
    if not path.exists():
        raise FileNotFoundError(f"icon {name!r} is not bundled (looked for {path})")
    return path.read_text(encoding="utf-8")


def icon(
    name: str,
    color: QColor | str | None = None,
    *,
    selected: QColor | str | None = None,
    checked: QColor | str | None = None,
) -> QIcon:
    """Icon ``name`` stroked in ``color`` (default: the application palette's text
    colour); in ``selected`` where a view draws it selected (a list's current entry) and
    in ``checked`` on a checked button, when given."""
    if color is None:
        color = QGuiApplication.palette().color(QPalette.ColorRole.WindowText)
    hexes = tuple(QColor(c).name() if c is not None else "" for c in (color, selected, checked))
    return QIcon(_icon(name, *hexes))


@cache
def _icon(name: str, normal: str, selected: str, checked: str) -> QIcon:
    svg = icon_svg(name)
    return QIcon(_SvgEngine(svg, normal, selected or normal, checked or normal))


class _SvgEngine(QIconEngine):
    """Renders the SVG at the size and pixel ratio asked for, when asked (start-up pays
    for no icon it does not draw), in one colour per look: normal, selected, checked;
    disabled is the normal one faded."""

    def __init__(self, svg: str, normal: str, selected: str, checked: str) -> None:
        super().__init__()
        self.svg, self.colors = svg, (normal, selected, checked)
        self.renderers = {
            color: QSvgRenderer(QByteArray(svg.replace("currentColor", color).encode()))
            for color in set(self.colors)
        }
        self.pixmaps: dict[tuple[int, int, QIcon.Mode, QIcon.State], QPixmap] = {}

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        painter.drawPixmap(rect, self.pixmap(rect.size(), mode, state))

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        key = (size.width(), size.height(), mode, state)
        if key not in self.pixmaps:
            normal, selected, checked = self.colors
            color = selected if mode == QIcon.Mode.Selected else normal
            if state == QIcon.State.On and mode != QIcon.Mode.Selected:
                color = checked
            image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(Qt.GlobalColor.transparent)
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self.renderers[color].render(painter, QRectF(0, 0, size.width(), size.height()))
            painter.end()
            if mode == QIcon.Mode.Disabled:
                image = _faded(image)
            self.pixmaps[key] = QPixmap.fromImage(image)
        return self.pixmaps[key]

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        pixmap = self.pixmap(size * scale, mode, state)
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def actualSize(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QSize:
        return size

    def clone(self) -> QIconEngine:
        return _SvgEngine(self.svg, *self.colors)


def _faded(image: QImage) -> QImage:
    """The disabled look: the same strokes at 40% opacity."""
    out = QImage(image.size(), QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(Qt.GlobalColor.transparent)
    painter = QPainter(out)
    painter.setOpacity(0.4)
    painter.drawImage(0, 0, image)
    painter.end()
    return out
