"""The playground's conversation: its turns, and "New conversation".

The conversation is stored by the engine (``engine.start_conversation``); each Send
in conversation mode continues it with ``ask(conversation_id=...)`` and the pane
re-reads the turns (``engine.conversation``) once the reply has finished. Both calls
run on the engine loop, where the pipeline writes the turns, never on the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.runtime.engine_bridge import EngineBridge
from core.types import Message

__all__ = ["ConversationPane", "turn_text"]

_ROLES = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool result"}
_PREVIEW = 600


def turn_text(message: Message) -> str:
    """``You: …`` / ``Assistant: …``, cut to a readable preview (the tooltip has it all)."""
    content = message.content.strip()
    calls = [f"→ {c.name}({c.arguments})" for c in message.tool_calls]
    content = "\n".join(part for part in (content, *calls) if part)
    if message.images:
        n = len(message.images)
        content = f"[{n} image{'s' if n != 1 else ''}] {content}"
    if len(content) > _PREVIEW:
        content = content[:_PREVIEW] + "…"
    return f"{_ROLES.get(message.role, message.role)}: {content}"


class ConversationPane(QWidget):
    """Turn list over one stored conversation; ``reset()`` forgets it.

    ``started(conversation_id)`` fires when a new conversation has been created,
    ``loaded(messages)`` when the turns have been re-read.
    """

    started = Signal(str)
    loaded = Signal(list)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.conversation_id: str | None = None
        self.messages: list[Message] = []
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.turns = QListWidget()
        self.turns.setWordWrap(True)
        self.turns.setAlternatingRowColors(True)
        self.turns.setSpacing(4)
        self.turns.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.new_button = QPushButton("New conversation")
        self.new_button.setToolTip("Forget this conversation; the next Send starts another")
        self.new_button.clicked.connect(self.reset)
        self.new_button.setAccessibleName("New conversation")
        self.turns.setAccessibleName("Conversation turns")
        self.title.setAccessibleName("Conversation title")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.turns, 1)
        layout.addWidget(self.new_button)
        self.reset()

    def reset(self) -> None:
        self.conversation_id = None
        self.messages = []
        self.turns.clear()
        self.title.setText("New conversation: the next Send starts it.")

    def start(
        self,
        system: str | None,
        title: str,
        then: Callable[[str], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        """Create the stored conversation off the UI thread, then call ``then(id)``."""
        self.bridge.call_on_loop(
            self.bridge.engine.start_conversation,
            system,
            title,
            on_result=lambda cid: self._started(cid, title, then),
            on_error=on_error,
        )

    def _started(self, conversation_id: str, title: str, then: Callable[[str], None]) -> None:
        self.conversation_id = conversation_id
        self.title.setText(f"Conversation: {title}")
        self.title.setToolTip(conversation_id)
        self.started.emit(conversation_id)
        then(conversation_id)

    def refresh(self) -> None:
        """Re-read the turns (after a reply has finished)."""
        conversation_id = self.conversation_id
        if conversation_id is None:
            return
        self.bridge.call_on_loop(
            self.bridge.engine.conversation,
            conversation_id,
            on_result=lambda messages: self.show_messages(conversation_id, messages),
            on_error=lambda _e: None,
        )

    def show_messages(self, conversation_id: str, messages: list[Message]) -> None:
        if conversation_id != self.conversation_id:
            return  # "New conversation" was pressed meanwhile
        self.messages = list(messages)
        self.turns.clear()
        for message in messages:
            item = QListWidgetItem(turn_text(message))
            item.setToolTip(message.content[:4000])
            self.turns.addItem(item)
        self.turns.scrollToBottom()
        self.loaded.emit(self.messages)
