"""Tools, JSON output and images for a request, in one folding panel under the prompt.

Shared by the Playground and Compare: :meth:`RequestExtras.ask_options` is what
``engine.ask`` gets besides the prompt, so every Compare column is sent the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QTabWidget, QToolButton, QVBoxLayout, QWidget

from app.runtime.engine_bridge import OffThread
from app.widgets.content.images import ImageAttachments
from app.widgets.content.json_output import JsonOutputEditor
from app.widgets.content.tools_editor import ToolsEditor

__all__ = ["RequestExtras"]

_TITLE = "Tools, JSON output and images"


class RequestExtras(QWidget):
    """A fold-out header with a one-line summary over three tabs (Tools, JSON output,
    Images). ``changed()`` fires whenever what would be sent changes."""

    changed = Signal()

    def __init__(self, off_thread: OffThread, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tools = ToolsEditor(off_thread)
        self.json_output = JsonOutputEditor(off_thread)
        self.images = ImageAttachments(off_thread)
        self.toggle = QToolButton()
        self.toggle.setText(_TITLE)
        self.toggle.setAccessibleName(_TITLE)
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self.set_expanded)
        self.summary = QLabel()
        self.summary.setAccessibleName("Tools, JSON output and images: summary")
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Tools, JSON output and images tabs")
        self.tabs.addTab(self.tools, "Tools")
        self.tabs.addTab(self.json_output, "JSON output")
        self.tabs.addTab(self.images, "Images")
        self.tabs.hide()
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.toggle)
        head.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.tabs, 1)
        for signal in (self.tools.changed, self.json_output.changed, self.images.changed):
            signal.connect(self._changed)
        self.images.failed.connect(lambda _message: self.show_tab(self.images))
        self._changed()

    def set_expanded(self, on: bool) -> None:
        if self.toggle.isChecked() != on:
            self.toggle.setChecked(on)  # comes back here through toggled
            return
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.tabs.setVisible(on)

    def show_tab(self, widget: QWidget) -> None:
        self.set_expanded(True)
        self.tabs.setCurrentWidget(widget)

    def ask_options(self) -> dict[str, Any]:
        """The keyword arguments ``engine.ask`` gets for these settings (only those set)."""
        options: dict[str, Any] = {}
        tools = self.tools.tools
        if tools:
            options["tools"] = tools
            choice = self.tools.tool_choice()
            if choice is not None:
                options["tool_choice"] = choice
        response_format = self.json_output.response_format()
        if response_format is not None:
            options["response_format"] = response_format
        if self.images.images:
            options["images"] = self.images.images
        return options

    def problem(self) -> str | None:
        """Why the request cannot be sent as set (wrong tools JSON, a bad schema), or None."""
        return self.tools.problem() or self.json_output.problem()

    def when_ready(self, then: Callable[[], None]) -> None:
        """Run ``then()`` once the typed JSON is checked and no image is being read."""
        self.tools.editor.when_checked(
            lambda: self._schema_ready(lambda: self.images.when_loaded(then))
        )

    def _schema_ready(self, then: Callable[[], None]) -> None:
        if self.json_output.current_mode() == "schema":
            self.json_output.schema.when_checked(then)
        else:
            then()

    def set_models(self, models: Sequence[tuple[str, str]]) -> None:
        """Where the request would go, as ``(provider kind, model)``: images count for them."""
        self.images.set_models(models)

    def summary_text(self) -> str:
        parts = []
        tools = self.tools.tools
        if tools:
            parts.append(f"{len(tools)} tool{'s' if len(tools) != 1 else ''}")
        mode = self.json_output.current_mode()
        if mode != "off":
            parts.append("JSON object" if mode == "object" else "JSON Schema")
        n = len(self.images.images)
        if n:
            parts.append(f"{n} image{'s' if n != 1 else ''}")
        if self.tools.problem():
            parts.append("⚠ the tools need fixing")
        if self.json_output.problem():
            parts.append("⚠ the JSON Schema needs fixing")
        return " · ".join(parts) if parts else "none set"

    def _changed(self) -> None:
        self.summary.setText(self.summary_text())
        self.summary.setToolTip(self.summary.text())
        self.changed.emit()
