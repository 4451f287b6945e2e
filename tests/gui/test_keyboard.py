"""The whole app from the keyboard alone, and one list of shortcuts that cannot go stale.

The walk uses key events only (no clicks, no slot calls) and checks where the focus
lands at each step.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractButton, QApplication, QWidget

from app import main_window
from app.main_window import KEYS, VIEWS
from app.widgets.icons import icon
from app.widgets.shortcuts_dialog import SHORTCUTS, KeyboardShortcutsDialog
from app.widgets.theme import current_theme, theme_manager

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
NONE = Qt.KeyboardModifier.NoModifier
WHERE = {"Anywhere": "window", "Playground": "playground", "Compare": "compare"}


def _focus() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the keyboard focus"
    return widget


def _inside(container: QWidget) -> bool:
    widget = _focus()
    return widget is container or container.isAncestorOf(widget)


def _press(qtbot, key: Qt.Key, modifier: Qt.KeyboardModifier = NONE) -> None:
    """A key press where a user's would go: to the widget with the focus."""
    qtbot.keyClick(_focus(), key, modifier)


def _tab_to(qtbot, target: QWidget, backwards: bool = False, limit: int = 12) -> list[QWidget]:
    """Tab (Shift+Tab) until ``target`` has the focus; the widgets passed on the way."""
    passed = []
    for _ in range(limit):
        if _inside(target):
            return passed
        passed.append(_focus())
        _press(
            qtbot, Qt.Key.Key_Backtab if backwards else Qt.Key.Key_Tab, SHIFT if backwards else NONE
        )
    raise AssertionError(f"Tab never reached {target!r}; passed {passed}")


@pytest.fixture
def window(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    return window


def test_a_keyboard_only_walk_through_the_views(qtbot, window):
    # Playground: Ctrl+1 puts the focus in the prompt.
    _press(qtbot, Qt.Key.Key_1, CTRL)
    pg = window.view("playground")
    assert window.current_view_key() == "playground" and _focus() is pg.prompt
    qtbot.keyClicks(_focus(), "What is a token?")
    # Shift+Tab walks back through the form, Tab forward to Send.
    back = _tab_to(qtbot, pg.model, backwards=True)
    assert back[1:] == [pg.system, pg.conversation_mode, pg.temperature, pg.max_tokens]
    _tab_to(qtbot, pg.prompt)
    assert pg.prompt.toPlainText() == "What is a token?"  # Tab moved on, typed nothing
    _tab_to(qtbot, pg.send_button)
    _tab_to(qtbot, pg.prompt, backwards=True)
    with qtbot.waitSignal(pg.reply_finished, timeout=10000) as blocker:
        _press(qtbot, Qt.Key.Key_Return, CTRL)
    sent = blocker.args[0]
    assert sent.status == "ok" and pg.output.toPlainText() == sent.response

    # Compare: Ctrl+2, type, Ctrl+Enter runs every column.
    _press(qtbot, Qt.Key.Key_2, CTRL)
    compare = window.view("compare")
    assert window.current_view_key() == "compare" and _focus() is compare.prompt
    qtbot.keyClicks(_focus(), "Explain what a token is, in two sentences.")
    _tab_to(qtbot, compare.compare_button)
    _tab_to(qtbot, compare.prompt, backwards=True)
    with qtbot.waitSignal(compare.compared, timeout=20000):
        _press(qtbot, Qt.Key.Key_Return, CTRL)
    columns = compare.active_columns()
    assert len(columns) == 3 and all(c.record.status == "ok" for c in columns)

    # Spend: Ctrl+3 focuses the range buttons, one Tab stop like radio buttons: the
    # arrow keys move along them, Space picks "7 days", Tab moves on to the charts.
    _press(qtbot, Qt.Key.Key_3, CTRL)
    spend = window.view("dashboard")
    assert window.current_view_key() == "dashboard" and _inside(spend)
    assert isinstance(_focus(), QAbstractButton) and _focus().text() == "Today"
    _press(qtbot, Qt.Key.Key_Right)
    assert _focus().text() == "7 days"
    _press(qtbot, Qt.Key.Key_Space)
    assert spend.range_label == "7 days"
    ranges = spend.range_buttons.buttons()
    _press(qtbot, Qt.Key.Key_Tab)
    assert _inside(spend) and _focus() not in ranges
    _press(qtbot, Qt.Key.Key_Backtab, SHIFT)
    assert _focus() in ranges
    qtbot.waitUntil(lambda: spend.data is not None and spend.data.range_label == "7 days")
    qtbot.waitUntil(lambda: spend.data.summary.totals.requests == 4, timeout=10000)

    # History: Ctrl+4 focuses the table; the arrow keys select the Playground's request.
    _press(qtbot, Qt.Key.Key_4, CTRL)
    history = window.view("history")
    assert window.current_view_key() == "history" and _focus() is history.table
    qtbot.waitUntil(lambda: history.model.rowCount() == 4, timeout=10000)

    def selected_id() -> str | None:
        rows = history.table.selectionModel().selectedRows()
        rec = history.model.record_at(rows[0].row()) if rows else None
        return rec.request_id if rec else None

    _press(qtbot, Qt.Key.Key_Down)
    for _ in range(4):
        qtbot.waitUntil(lambda: selected_id() is not None)
        if selected_id() == sent.request_id:
            break
        _press(qtbot, Qt.Key.Key_Down)
    assert selected_id() == sent.request_id
    qtbot.waitUntil(lambda: sent.request_id in history.detail.toPlainText())
    _tab_to(qtbot, history.text, backwards=True)  # the filters come before the table
    _tab_to(qtbot, history.table)
    _tab_to(qtbot, history.detail)  # and the detail after it
    assert selected_id() == sent.request_id

    # Ctrl+L: the list of views; Up shows Spend, Enter moves into it.
    _press(qtbot, Qt.Key.Key_L, CTRL)
    assert _focus() is window.nav
    _press(qtbot, Qt.Key.Key_Up)
    assert window.current_view_key() == "dashboard" and _focus() is window.nav
    assert window.nav.currentItem().isSelected()
    _press(qtbot, Qt.Key.Key_Return)
    assert _inside(spend)
    assert window.view_actions["dashboard"].isChecked()


def test_f1_lists_the_shortcuts_and_escape_closes_it(qtbot, window):
    _press(qtbot, Qt.Key.Key_F1)
    dialog = window.shortcuts_dialog
    assert isinstance(dialog, KeyboardShortcutsDialog)
    qtbot.waitUntil(dialog.isVisible)
    qtbot.waitUntil(lambda: _inside(dialog))
    assert [row[1] for row in dialog.rows()] == [s.does for s in SHORTCUTS]
    assert dialog.rows()[0][0] == QKeySequence("Ctrl+1").toString(
        QKeySequence.SequenceFormat.NativeText
    )
    _press(qtbot, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    qtbot.waitUntil(lambda: _inside(window))  # the focus is back in the window
    _press(qtbot, Qt.Key.Key_Slash, CTRL)  # the other key for it
    qtbot.waitUntil(lambda: dialog.isVisible() and _inside(dialog))
    _press(qtbot, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible())


def _scope(window, obj: QShortcut | QAction) -> str:
    parent = obj.parent()
    for key, view in window.views.items():
        if parent is view or view.isAncestorOf(parent):
            return key
    return "window"


def test_the_shortcut_list_is_the_shortcuts_the_window_has(qtbot, make_bridge, make_window):
    """Every QShortcut and QAction key in the window and its views is listed, where it
    works, and every listed key is bound (but those an editor handles itself)."""
    window = make_window(make_bridge())
    for key in KEYS:
        window.view(key)
    bound = {
        (_scope(window, s), s.key().toString())
        for s in window.findChildren(QShortcut)
        if not s.key().isEmpty()
    }
    bound |= {
        (_scope(window, a), seq.toString())
        for a in window.findChildren(QAction)
        for seq in a.shortcuts()
        if not seq.isEmpty()
    }
    listed = {
        (WHERE[entry.where], QKeySequence(keys).toString())
        for entry in SHORTCUTS
        if entry.bound
        for keys in entry.keys
    }
    assert bound == listed
    assert [s.id for s in SHORTCUTS[: len(VIEWS)]] == [f"view.{spec.key}" for spec in VIEWS]
    assert len({s.id for s in SHORTCUTS}) == len(SHORTCUTS)


def test_the_view_menu_shows_the_current_view(qtbot, window, monkeypatch):
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    assert list(menus) == ["&View", "&Help"]
    actions = [a for a in menus["&View"].actions() if a.isCheckable()]
    assert [a.text() for a in actions] == [spec.title for spec in VIEWS]
    assert actions[0].actionGroup().isExclusive()
    window.show_view("history")
    assert [a.isChecked() for a in actions] == [key == "history" for key in KEYS]
    assert window.nav.currentItem().isSelected()
    help_texts = [a.text() for a in menus["&Help"].actions()]
    assert help_texts == ["&Keyboard shortcuts…", "&About Centwise"]

    # Icons follow a theme switch. Windows of earlier tests may still listen, so look at
    # this window's own items: blanked first, each is drawn again by its view's icon.
    drawn: list[str] = []
    monkeypatch.setattr(main_window, "nav_icon", lambda name: drawn.append(name) or icon(name))
    for row in range(window.nav.count()):
        window.nav.item(row).setIcon(QIcon())
    theme_manager().changed.emit(current_theme())
    assert all(not window.nav.item(row).icon().isNull() for row in range(window.nav.count()))
    assert drawn[-len(VIEWS) :] == [spec.icon for spec in VIEWS]


def _strokes(icon_: QIcon, mode: QIcon.Mode, ratio: float) -> set[str]:
    """The colours of the opaque pixels of ``icon_`` drawn at 20 px and ``ratio``."""
    image = icon_.pixmap(QSize(20, 20), ratio, mode).toImage()
    colors = set()
    for x in range(image.width()):
        for y in range(image.height()):
            pixel = image.pixelColor(x, y)
            if pixel.alpha() == 255:
                colors.add(pixel.name())
    return colors


@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_the_sidebar_draws_each_icon_in_the_text_and_selection_colours(window, ratio):
    theme = current_theme()
    for row in range(window.nav.count()):
        item_icon = window.nav.item(row).icon()
        assert item_icon.pixmap(QSize(20, 20), ratio).size() == QSize(20, 20) * ratio
        assert _strokes(item_icon, QIcon.Mode.Normal, ratio) == {theme.text}
        assert _strokes(item_icon, QIcon.Mode.Selected, ratio) == {theme.accent_text}
