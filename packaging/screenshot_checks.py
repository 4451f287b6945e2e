"""What a screenshot would show, read as text: no amount in scientific notation, no long zero.

:func:`find_text_problems` walks the visible widgets under a window or dialog: label and
button texts, tab titles, the display text of every visible cell of item views, and in
pyqtgraph plots the visible text items (titles, legends, line labels) and each visible
axis's tick labels (``tickValues`` then ``tickStrings``, the axis's own public API). It
flags

- a number in scientific notation (``5e-05``, ``$2.6E-5``): the app never writes one;
- a dollar zero with more than two places (``$0.0000``): the app writes zero as ``$0.00``,
  so a long zero is an old fixed-places formatter, which also turns small costs into zero.

Used by ``packaging/screenshots.py`` before each grab and by
``tests/gui/test_screenshots_script.py``. The folder is not a package (it would shadow
the ``packaging`` distribution), so the test loads this file by path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QGraphicsTextItem,
    QGraphicsView,
    QGroupBox,
    QLabel,
    QTabBar,
    QTableView,
    QTreeView,
    QWidget,
)

__all__ = [
    "LONG_ZERO",
    "SCIENTIFIC",
    "TextProblem",
    "find_text_problems",
    "problems_in",
    "summarize",
    "visible_texts",
]

#: A number written with an exponent, not inside a word or an id (``req_3e5`` is not one).
SCIENTIFIC = re.compile(r"(?<![\w.])[-+]?\$?\d+(?:\.\d+)?[eE][-+]?\d+(?![\w.])")
#: A dollar zero with three or more places: ``$0.000``, ``-$0.000000``.
LONG_ZERO = re.compile(r"\$0\.0{3,}(?![0-9])")
#: Where a text shows, its row when it is a cell of an item view, and the text.
Located = tuple[str, int | None, str]
#: Rows of an item view read at most, so a million-row table costs what the eye sees.
MAX_ROWS = 500


@dataclass(frozen=True, slots=True)
class TextProblem:
    """One text that would show wrong: where it is, what it reads, what is wrong with it."""

    where: str
    text: str
    problem: str
    row: int | None = None  # in an item view: ``where`` names the view and the column

    def __str__(self) -> str:
        row = "" if self.row is None else f" row {self.row}"
        return f"{self.where}{row}: {self.problem}: {self.text!r}"


def problems_in(text: str) -> list[str]:
    """What is wrong with ``text``: ``scientific notation`` and/or ``long zero``."""
    found = []
    if SCIENTIFIC.search(text):
        found.append("scientific notation")
    if LONG_ZERO.search(text):
        found.append("long zero")
    return found


def find_text_problems(root: QWidget) -> list[TextProblem]:
    """Every problem in the texts ``root`` shows now (hidden widgets are skipped)."""
    out = []
    for where, row, text in _texts(root):
        out += [TextProblem(where, text, p, row) for p in problems_in(text)]
    return out


def summarize(problems: list[TextProblem], examples: int = 4) -> list[str]:
    """One line per place and kind of problem: ``where: problem: 'a', 'b' … (n texts)``."""
    groups: dict[tuple[str, str], list[TextProblem]] = {}
    for p in problems:
        groups.setdefault((p.where, p.problem), []).append(p)
    lines = []
    for (where, problem), found in groups.items():
        rows = [p.row for p in found if p.row is not None]
        if rows:
            where += f" rows {', '.join(map(str, rows))}" if len(rows) > 1 else f" row {rows[0]}"
        texts = list(dict.fromkeys(p.text for p in found))
        shown = ", ".join(repr(t) for t in texts[:examples])
        more = f" … ({len(texts)} texts)" if len(texts) > examples else ""
        lines.append(f"{where}: {problem}: {shown}{more}")
    return lines


def visible_texts(root: QWidget) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for each text on show under ``root``, ``root`` included."""
    for where, row, text in _texts(root):
        yield (where if row is None else f"{where} row {row}"), text


def _texts(root: QWidget) -> Iterator[Located]:
    for widget in [root, *root.findChildren(QWidget)]:
        if not widget.isVisible():
            continue
        if isinstance(widget, (QLabel, QAbstractButton)):
            yield describe(widget), None, widget.text()
        elif isinstance(widget, QGroupBox):
            yield describe(widget), None, widget.title()
        elif isinstance(widget, QTabBar):
            for i in range(widget.count()):
                yield f"{describe(widget)} tab {i}", None, widget.tabText(i)
        if isinstance(widget, QAbstractItemView):
            yield from _cell_texts(widget)
        elif isinstance(widget, QGraphicsView):
            yield from _scene_texts(widget)


def describe(widget: QWidget) -> str:
    """``SpendDashboard.summary_label``: the nearest ancestor holding ``widget`` as an
    attribute; else the nearest such ancestor's name and the widget's class
    (``SpendDashboard.bottom_tabs › QTabBar``); else the class and object names."""
    label = type(widget).__name__
    if widget.objectName() and not widget.objectName().startswith("qt_"):
        label += f" {widget.objectName()!r}"
    node: QWidget | None = widget
    while node is not None:
        name = _attribute_name(node)
        if name is not None:
            return name if node is widget else f"{name} › {label}"
        node = node.parentWidget()
    return label


def _attribute_name(widget: QWidget) -> str | None:
    parent = widget.parentWidget()
    while parent is not None:
        for name, value in vars(parent).items():
            if value is widget:
                return f"{type(parent).__name__}.{name}"
        parent = parent.parentWidget()
    return None


def _cell_texts(view: QAbstractItemView) -> Iterator[Located]:
    model = view.model()
    if model is None:
        return
    for index in _visible_rows(view):
        for cell in _row_cells(index):
            column = cell.column()
            if isinstance(view, QTableView) and view.isColumnHidden(column):
                continue
            value = cell.data(Qt.ItemDataRole.DisplayRole)
            if value is None or value == "":
                continue
            title = model.headerData(column, Qt.Orientation.Horizontal)
            col = f"{title!s}" if title not in (None, "") else f"col {column}"
            yield f"{describe(view)} {col}", index.row(), str(value)


def _row_cells(index: QModelIndex) -> Iterator[QModelIndex]:
    """Each cell of ``index``'s row, walked by sibling (a list model's ``columnCount()``
    cannot be called from Python)."""
    column = 0
    cell = index.siblingAtColumn(0)
    while cell.isValid():
        yield cell
        column += 1
        cell = index.siblingAtColumn(column)


def _visible_rows(view: QAbstractItemView) -> Iterator[QModelIndex]:
    """The first-column index of each row that shows in the viewport, top to bottom."""
    height = view.viewport().height()
    index = view.indexAt(QPoint(1, 1))
    for _ in range(MAX_ROWS):
        if not index.isValid() or view.visualRect(index).top() >= height:
            return
        yield index.siblingAtColumn(0)
        if isinstance(view, QTreeView):
            index = view.indexBelow(index)
        else:
            index = index.siblingAtRow(index.row() + 1)


def _scene_texts(view: QGraphicsView) -> Iterator[Located]:
    """Text items and axis tick labels of a graphics view (pyqtgraph plots)."""
    scene = view.scene()
    if scene is None:
        return
    where = describe(view)
    # Rendered off screen first: an axis lays out its ticks when it paints, and one
    # scrolled out of sight (or not painted yet) has not.
    view.grab()
    for item in scene.items():
        if not item.isVisible():
            continue
        if isinstance(item, QGraphicsTextItem):
            yield where, None, item.toPlainText()
        elif hasattr(item, "tickValues") and hasattr(item, "tickStrings"):
            side = getattr(item, "orientation", "axis")
            for text in _tick_strings(item):
                yield f"{where} {side} axis", None, text


def _tick_strings(axis: object) -> list[str]:
    """The labels a pyqtgraph ``AxisItem`` draws for its current range."""
    low, high = axis.range  # type: ignore[attr-defined]
    rect = axis.geometry()  # type: ignore[attr-defined]
    vertical = axis.orientation in ("left", "right")  # type: ignore[attr-defined]
    size = rect.height() if vertical else rect.width()
    if size <= 0 or low == high:
        return []
    texts = []
    for spacing, values in axis.tickValues(low, high, size):  # type: ignore[attr-defined]
        scale = axis.autoSIPrefixScale * axis.scale  # type: ignore[attr-defined]
        texts += axis.tickStrings(values, scale, spacing)  # type: ignore[attr-defined]
    return [str(t) for t in texts]
