"""Every keyboard shortcut of the app, in one registry, and the dialog that lists them.

:data:`SHORTCUTS` is the one list: the main window's menu actions and the views'
``QShortcut`` objects take their keys from it (:func:`shortcut_keys`), the dialog
shows it, and a test checks it against the shortcuts the window really has, so the
list cannot go stale. Keys are written in ``QKeySequence`` portable text
(``"Ctrl+Return"``); the dialog shows them the platform's way (⌘ on macOS).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = [
    "SHORTCUTS",
    "KeyboardShortcutsDialog",
    "Shortcut",
    "key_sequences",
    "key_text",
    "shortcut",
    "shortcut_keys",
]

ANYWHERE = "Anywhere"


@dataclass(frozen=True, slots=True)
class Shortcut:
    """One shortcut: ``keys`` (portable text, any of them works), what it does, where.

    ``bound`` is False for keys an editor handles itself (an event filter, a list's
    activation), which have no ``QShortcut`` or ``QAction`` to check against.
    """

    id: str
    keys: tuple[str, ...]
    does: str
    where: str = ANYWHERE
    bound: bool = True


def _view(key: str, number: int, title: str) -> Shortcut:
    return Shortcut(f"view.{key}", (f"Ctrl+{number}",), f"Show {title}")


SHORTCUTS: tuple[Shortcut, ...] = (
    _view("playground", 1, "the Playground"),
    _view("compare", 2, "Compare"),
    _view("dashboard", 3, "Spend"),
    _view("history", 4, "History"),
    _view("cache", 5, "the Cache"),
    _view("whatif", 6, "What if…"),
    _view("settings", 7, "Settings"),
    Shortcut("nav.focus", ("Ctrl+L",), "Move the focus to the list of views"),
    Shortcut(
        "nav.enter",
        ("Return",),
        "Open the selected view and move the focus into it",
        "List of views",
        bound=False,
    ),
    Shortcut("help.shortcuts", ("F1", "Ctrl+/"), "Show this list of keyboard shortcuts"),
    Shortcut("playground.send", ("Ctrl+Return", "Ctrl+Enter"), "Send the prompt", "Playground"),
    Shortcut("playground.stop", ("Esc",), "Stop the reply", "Playground"),
    Shortcut(
        "playground.thumbs_up",
        ("Ctrl+Shift+Up",),
        "Mark the last answer good (thumbs up)",
        "Playground",
    ),
    Shortcut(
        "playground.thumbs_down",
        ("Ctrl+Shift+Down",),
        "Mark the last answer bad (thumbs down); the cache never serves it again",
        "Playground",
    ),
    Shortcut("compare.run", ("Ctrl+Return", "Ctrl+Enter"), "Run the comparison", "Compare"),
    Shortcut(
        "prompt.paste_image",
        ("Ctrl+V",),
        "Paste a copied image or image file to attach it",
        "Playground and Compare prompts",
        bound=False,
    ),
)


def shortcut(shortcut_id: str) -> Shortcut:
    """The registry entry ``shortcut_id``; ``KeyError`` names it when there is none."""
    for entry in SHORTCUTS:
        if entry.id == shortcut_id:
            return entry
    raise KeyError(shortcut_id)


def key_sequences(shortcut_id: str) -> list[QKeySequence]:
    """The keys of ``shortcut_id`` as key sequences (for ``QAction.setShortcuts``)."""
    return [QKeySequence(keys) for keys in shortcut(shortcut_id).keys]


def shortcut_keys(shortcut_id: str) -> tuple[str, ...]:
    """The keys of ``shortcut_id`` in portable text (for ``QShortcut``)."""
    return shortcut(shortcut_id).keys


def key_text(shortcut_id: str) -> str:
    """The first key of ``shortcut_id`` as the platform writes it: ``Ctrl+1``, ``⌘1``."""
    return QKeySequence(shortcut(shortcut_id).keys[0]).toString(
        QKeySequence.SequenceFormat.NativeText
    )


class KeyboardShortcutsDialog(QDialog):
    """A table of :data:`SHORTCUTS`: keys, what they do, where they work."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        intro = QLabel(
            "Tab and Shift+Tab move between controls; Space or Enter presses the one in focus."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(len(SHORTCUTS), 3)
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setHorizontalHeaderLabels(["Keys", "What it does", "Where"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        native = QKeySequence.SequenceFormat.NativeText
        for row, entry in enumerate(SHORTCUTS):
            keys = " or ".join(QKeySequence(k).toString(native) for k in entry.keys)
            for col, text in enumerate((keys, entry.does, entry.where)):
                item = QTableWidgetItem(text)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                self.table.setItem(row, col, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.table.resizeColumnsToContents()
        self.table.resizeRowsToContents()
        # Every row in view where the screen allows: a list to read, not to scroll.
        frame = 2 * self.table.frameWidth()
        width = self.table.verticalHeader().width() + header.length() + frame + 48
        height = header.height() + self.table.verticalHeader().length() + frame
        height += intro.sizeHint().height() + buttons.sizeHint().height() + 48
        screen = self.screen().availableGeometry().size() * 0.9
        self.resize(min(width, screen.width()), min(height, screen.height()))

    def rows(self) -> list[tuple[str, str, str]]:
        """The table's text, row by row (keys, what, where)."""
        return [
            tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
            for r in range(self.table.rowCount())
        ]
