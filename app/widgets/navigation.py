"""Getting around the main window: the sidebar's list of views, the page each view
sits on, and where the keyboard focus goes when a view is opened."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QIcon, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QListWidget,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QWidget,
)

from app.widgets.icons import icon
from app.widgets.theme import current_theme

__all__ = ["NAV_ICON_SIZE", "ViewList", "ViewPage", "first_control", "nav_icon", "takes_focus"]

NAV_ICON_SIZE = 20


def nav_icon(name: str) -> QIcon:
    """Icon ``name`` in the text colour, and in the selection's text colour when its
    entry is selected (the stylesheet fills a selected entry with the accent)."""
    theme = current_theme()
    return icon(name, theme.text, selected=theme.accent_text)


class ViewList(QListWidget):
    """The sidebar's list of views (object name ``nav``): an icon and a title each,
    always as wide as its widest entry, measured with the current font and style (a
    larger font, a theme's padding or a high scale factor never cuts a title short),
    and tall enough to show every entry. The current entry is always selected."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("nav")
        self.setAccessibleName("Views")
        self.setIconSize(QSize(NAV_ICON_SIZE, NAV_ICON_SIZE))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Expanding)
        # A Ctrl+click cannot unselect the current view.
        self.itemSelectionChanged.connect(self._keep_current_selected)
        model = self.model()  # new items and icons change the size needed
        for signal in (model.rowsInserted, model.rowsRemoved, model.dataChanged):
            signal.connect(lambda *_: self.updateGeometry())

    def _keep_current_selected(self) -> None:
        item = self.currentItem()
        if item is not None and not item.isSelected():
            item.setSelected(True)

    def sizeHint(self) -> QSize:
        return self.minimumSizeHint()

    def minimumSizeHint(self) -> QSize:
        margins = self.contentsMargins() + self.viewportMargins()
        spacing = self.spacing()
        width = max(self.sizeHintForColumn(0), 0) + margins.left() + margins.right()
        rows = sum(max(self.sizeHintForRow(r), 0) + 2 * spacing for r in range(self.count()))
        return QSize(width + 2 * spacing, rows + margins.top() + margins.bottom())

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.updateGeometry()
        super().changeEvent(event)


class ViewPage(QScrollArea):
    """A view on its page of the window's stack: it fills the page, and scrolls when
    the page is smaller than the view's minimum size (a small screen, a large scale
    factor), so no control is ever cut off.

    Not ``widgetResizable``: that grows a view whose layout has height-for-width (any
    wrapped label) to its *preferred* height, which scrolls views that would fit.
    """

    def __init__(self, view: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"page_{view.objectName()}")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWidget(view)
        view.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.fit()  # the view's minimum size may have changed
        return super().eventFilter(watched, event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()

    def fit(self) -> None:
        """Size the view to the page, but never below its minimum size."""
        view = self.widget()
        if view is None:
            return
        minimum = view.minimumSizeHint().expandedTo(view.minimumSize())
        room = self.maximumViewportSize()
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        width, height = room.width(), room.height()
        if minimum.width() > width:  # a horizontal scroll bar takes room below
            height -= bar
        if minimum.height() > height:  # a vertical one takes room beside
            width -= bar
            if minimum.width() > width and minimum.width() <= room.width():
                height -= bar
        view.resize(max(width, minimum.width()), max(height, minimum.height()))


def takes_focus(widget: QWidget, within: QWidget) -> bool:
    """True when ``widget`` (shown in ``within``) can take the focus by Tab."""
    return (
        widget.isVisibleTo(within)
        and widget.isEnabled()
        and bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus)
    )


def first_control(view: QWidget) -> QWidget | None:
    """The first control of ``view`` in tab order that can take the focus."""
    widget = view.nextInFocusChain()
    while widget is not None and widget is not view:
        if view.isAncestorOf(widget) and takes_focus(widget, view):
            return widget
        widget = widget.nextInFocusChain()
    return None
