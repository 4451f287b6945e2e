"""A JSON text editor that checks what is typed off the UI thread.

The check runs after typing pauses (:data:`CHECK_DEBOUNCE_MS`), on a worker (a big
schema costs milliseconds, a pasted megabyte more); a stale answer (the text changed
meanwhile) is dropped. The message under the editor is the checker's, which names the
field (``tools[0].function.parameters: not a valid JSON Schema: ...``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget
from shiboken6 import isValid

from app.runtime.engine_bridge import OffThread
from core.errors import CentwiseError

__all__ = ["CHECK_DEBOUNCE_MS", "JsonEditor", "JsonTextError", "check_message", "parse_json_text"]

CHECK_DEBOUNCE_MS = 300
ERROR_STYLE = "color: #b3261e;"


class JsonTextError(ValueError):
    """Text that is not JSON; the message says where (line and column)."""


def parse_json_text(text: str) -> object:
    """The JSON value of ``text``; None when it is blank."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise JsonTextError(
            f"not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}"
        ) from None
    except RecursionError:
        raise JsonTextError("not usable JSON: nested too deeply") from None


def check_message(error: BaseException) -> str:
    """What the editor shows for a failed check."""
    if isinstance(error, CentwiseError):
        return error.message
    if isinstance(error, JsonTextError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class JsonEditor(QWidget):
    """A monospace editor over the status of its last check.

    ``check(text)`` runs off-thread and returns the checked value or raises; ``describe(value)``
    words a good value for the status line. ``checked()`` fires after each check that
    is still current; :attr:`value`, :attr:`error` and :attr:`pending` say where it
    stands, and :meth:`when_checked` runs a callback once the current text is checked.
    """

    checked = Signal()

    def __init__(
        self,
        check: Callable[[str], object],
        describe: Callable[[object], str],
        off_thread: OffThread,
        *,
        name: str,
        placeholder: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._check = check
        self._describe = describe
        self._off_thread = off_thread
        self._generation = 0
        self._waiters: list[Callable[[], None]] = []
        self.value: object = None
        self.error: str | None = None
        self.pending = False
        self.text = QPlainTextEdit()
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText(placeholder)
        self.text.setTabChangesFocus(True)
        self.text.setAccessibleName(name)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAccessibleName(f"{name}: check")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.status)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DEBOUNCE_MS)
        self._timer.timeout.connect(self.check_now)
        self.text.textChanged.connect(self._edited)
        self._check_empty()

    def _check_empty(self) -> None:
        # Nothing typed yet: checking "" is instant, so the editor starts settled.
        try:
            value, error = self._check(""), None
        except Exception as e:  # any failure is what the status line shows
            value, error = None, e
        self._done(self._generation, value, error)

    def plain_text(self) -> str:
        return self.text.toPlainText()

    def set_text(self, text: str) -> None:
        """Replace the text as one undoable edit (Ctrl+Z brings the old text back)."""
        cursor = self.text.textCursor()
        cursor.beginEditBlock()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(text)
        cursor.endEditBlock()

    @property
    def ok(self) -> bool:
        return not self.pending and self.error is None

    def _edited(self) -> None:
        self._generation += 1
        self.pending = True
        self._timer.start()

    def check_now(self) -> None:
        """Check the current text at once (skipping what is left of the pause)."""
        self._timer.stop()
        self._generation += 1
        generation = self._generation
        self.pending = True
        self._off_thread(
            self._check,
            self.text.toPlainText(),
            on_result=lambda value: self._done(generation, value, None),
            on_error=lambda error: self._done(generation, None, error),
        )

    def when_checked(self, then: Callable[[], None]) -> None:
        """Run ``then()`` once the current text has been checked (now, if it has)."""
        if not self.pending:
            then()
            return
        self._waiters.append(then)
        if self._timer.isActive():
            self.check_now()

    def _done(self, generation: int, value: object, error: BaseException | None) -> None:
        if not isValid(self) or generation != self._generation:
            return  # closed, or the text changed since: a newer check is coming
        self.pending = False
        self.value = None if error is not None else value
        self.error = None if error is None else check_message(error)
        if self.error is None:
            self.status.setStyleSheet("")
            self.status.setText(self._describe(value))
        else:
            self.status.setStyleSheet(ERROR_STYLE)
            self.status.setText(f"⚠ {self.error}")
        self.checked.emit()
        waiters, self._waiters = self._waiters, []
        for then in waiters:
            then()
