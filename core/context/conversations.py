"""Stored conversations: threads of messages in the ledger's database.

A conversation survives a restart: its messages (with any metadata, as JSON) live in
``conversation_messages`` and its rolling summary in ``conversation_summaries``, both
created by ledger migration 2. The store works through the ledger's
:meth:`~core.ledger.store.Ledger.reading` and :meth:`~core.ledger.store.Ledger.writing`,
so the same SQL runs on the SQLite file and on a shared PostgreSQL (team mode).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from core.errors import InputError
from core.money import from_pusd
from core.types import ImagePart, Message, ToolCall

if TYPE_CHECKING:
    from core.ledger.store import Ledger

__all__ = ["Conversation", "ConversationInfo", "ConversationStore", "StoredSummary"]

_TITLE_CHARS = 60
#: What breaks a tie in :meth:`ConversationStore.recent` (same ``updated_at``): SQLite's
#: rowid is the creation order; PostgreSQL's table has no such column, so the later
#: ``created_at``, then the id, decide there.
_TIEBREAK = {"sqlite": "c.rowid DESC", "postgresql": "c.created_at DESC, c.id DESC"}


@dataclass(frozen=True, slots=True)
class StoredSummary:
    """A summary of every message with ``seq < upto_seq``."""

    upto_seq: int
    content: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Conversation:
    """One thread as stored: its messages in order (``seqs[i]`` is ``messages[i]``'s)."""

    id: str
    system: str | None
    title: str
    messages: tuple[Message, ...]
    seqs: tuple[int, ...]
    summary: StoredSummary | None


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    """A line in a list of conversations."""

    id: str
    title: str
    system: str | None
    created_at: float
    updated_at: float
    message_count: int
    cost_usd: Decimal


class ConversationStore:
    """Conversations, their messages and summaries, in the ledger's database (the SQLite
    file or PostgreSQL); errors come as the ledger's :class:`~core.errors.LedgerError`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def close(self) -> None:
        """Nothing of its own to close: the ledger owns the connection."""

    def create(self, system: str | None, now: float, title: str | None = None) -> str:
        """A new, empty conversation; returns its id."""
        conversation_id = "conv_" + uuid.uuid4().hex[:16]
        with self.ledger.writing() as conn:
            conn.execute(
                "INSERT INTO conversations (id, system, title, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (conversation_id, system, title or "", now, now),
            )
        return conversation_id

    def load(self, conversation_id: str) -> Conversation:
        """The whole conversation; :class:`InputError` when there is none by that id."""
        with self.ledger.reading() as conn:
            head = conn.execute(
                "SELECT system, title FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if head is None:
                raise InputError(f"there is no conversation {conversation_id!r}")
            rows = conn.execute(
                "SELECT seq, role, content, name, metadata, parts FROM conversation_messages"
                " WHERE conversation_id = ? ORDER BY seq",
                (conversation_id,),
            ).fetchall()
            srow = conn.execute(
                "SELECT upto_seq, content, request_id FROM conversation_summaries"
                " WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
        messages = tuple(
            with_parts(Message(r[1], r[2], r[3], None if r[4] is None else json.loads(r[4])), r[5])
            for r in rows
        )
        summary = None if srow is None else StoredSummary(srow[0], srow[1], srow[2])
        return Conversation(
            conversation_id, head[0], head[1], messages, tuple(r[0] for r in rows), summary
        )

    def append(
        self,
        conversation_id: str,
        messages: Sequence[Message],
        now: float,
        request_id: str | None = None,
    ) -> None:
        """Add ``messages`` at the end, in one transaction (a turn is stored whole)."""
        with self.ledger.writing() as conn:
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(seq), -1) FROM conversation_messages"
                " WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            conn.executemany(
                "INSERT INTO conversation_messages (conversation_id, seq, role, content, name,"
                " metadata, created_at, request_id, parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (conversation_id, last + 1 + i, m.role, m.content, m.name,
                     None if m.metadata is None else json.dumps(dict(m.metadata)),
                     now, request_id, parts_json(m))
                    for i, m in enumerate(messages)
                ],
            )  # fmt: skip
            first_user = next((m.content for m in messages if m.role == "user"), "")
            conn.execute(
                "UPDATE conversations SET updated_at = ?,"
                " title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
                (now, _title(first_user), conversation_id),
            )

    def save_summary(self, conversation_id: str, summary: StoredSummary, now: float) -> None:
        """Replace the conversation's rolling summary."""
        with self.ledger.writing() as conn:
            conn.execute(
                "INSERT INTO conversation_summaries"
                " (conversation_id, upto_seq, content, request_id, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (conversation_id) DO UPDATE SET"
                " upto_seq = excluded.upto_seq, content = excluded.content,"
                " request_id = excluded.request_id, created_at = excluded.created_at",
                (conversation_id, summary.upto_seq, summary.content, summary.request_id, now),
            )

    def recent(self, limit: int) -> list[ConversationInfo]:
        """The ``limit`` most recently used conversations, newest first, with their cost
        (every request made for them, summaries included)."""
        tiebreak = _TIEBREAK[self.ledger.backend]
        with self.ledger.reading() as conn:
            rows = conn.execute(
                "SELECT c.id, c.title, c.system, c.created_at, c.updated_at,"
                " (SELECT COUNT(*) FROM conversation_messages m WHERE m.conversation_id = c.id),"
                " (SELECT COALESCE(SUM(r.cost_pusd), 0) FROM requests r"
                "  WHERE r.conversation_id = c.id)"
                f" FROM conversations c ORDER BY c.updated_at DESC, {tiebreak} LIMIT ?",
                (limit,),
            ).fetchall()
        return [ConversationInfo(r[0], r[1], r[2], r[3], r[4], r[5], from_pusd(r[6])) for r in rows]


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _TITLE_CHARS else line[: _TITLE_CHARS - 1] + "…"


def parts_json(m: Message) -> str | None:
    """A message's tool calls, the call it answers and its images (bytes as base64,
    since a later turn sends them again), as JSON; None for a plain text message."""
    if not (m.tool_calls or m.tool_call_id or m.images):
        return None
    images = [
        {
            "sha256": i.sha256, "media_type": i.media_type, "url": i.url, "width": i.width,
            "height": i.height, "detail": i.detail,
            "data": None if i.data is None else base64.b64encode(i.data).decode("ascii"),
        }
        for i in m.images
    ]  # fmt: skip
    calls = [c.as_dict() for c in m.tool_calls]
    return json.dumps({"tool_calls": calls, "tool_call_id": m.tool_call_id, "images": images})


def with_parts(m: Message, text: str | None) -> Message:
    """``m`` with what :func:`parts_json` stored."""
    if not text:
        return m
    data = json.loads(text)
    images = tuple(
        ImagePart(
            i["sha256"], i["media_type"],
            None if i["data"] is None else base64.b64decode(i["data"]),
            i["url"], i["width"], i["height"], i["detail"],
        )
        for i in data.get("images", [])
    )  # fmt: skip
    calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in data.get("tool_calls", []))
    return replace(m, images=images, tool_calls=calls, tool_call_id=data.get("tool_call_id"))
