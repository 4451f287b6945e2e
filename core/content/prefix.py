"""A request as the providers' prompt caches see it: an ordered list of blocks.

Every provider caches *prefixes*: the tools, then the system prompt, then the messages
in order (Anthropic documents this order; OpenAI and Gemini cache the same leading
part of the prompt). A :class:`Prefix` is that list of blocks with a chained digest per
block (block *i*'s digest covers blocks 0..i), so two requests share a cached prefix
up to block *i* exactly when their chained digests at *i* agree, and the estimated
tokens up to each block. Comparing two prefixes says where they diverged
(:func:`divergence`): which tool or message, the character offset, a short excerpt of
each side.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.types import Message, Tool

__all__ = ["Block", "Divergence", "Prefix", "divergence", "prefix_of"]

_DIGEST_BYTES = 8
_EXCERPT = 40


@dataclass(frozen=True, slots=True)
class Block:
    """One tool definition or one message. ``part`` is "tools" or "messages" and
    ``index`` its position in that list (messages numbered as sent, the system prompt
    being ``messages[0]``); ``text`` is the canonical text that is hashed."""

    part: str
    index: int
    role: str
    text: str
    tokens: int

    @property
    def label(self) -> str:
        return f"{self.part}[{self.index}]"


@dataclass(frozen=True, slots=True)
class Prefix:
    """The blocks of one request, with chained digests and running token totals."""

    blocks: tuple[Block, ...]
    chain: tuple[str, ...]
    cumulative: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.blocks)

    @property
    def tokens(self) -> int:
        return self.cumulative[-1] if self.cumulative else 0

    def tokens_to(self, i: int) -> int:
        """Tokens of blocks 0..i (0 for i < 0)."""
        return self.cumulative[i] if i >= 0 else 0

    def shared_with(self, other: Prefix) -> int:
        """How many leading blocks the two prefixes have in common."""
        n = 0
        for a, b in zip(self.chain, other.chain, strict=False):
            if a != b:
                break
            n += 1
        return n

    def system_end(self) -> int:
        """Index of the last block of the stable head (tools and leading system
        messages), or -1 when there is none."""
        end = -1
        for i, b in enumerate(self.blocks):
            if b.part == "tools" or (b.role == "system" and end == i - 1):
                end = i
            else:
                break
        return end

    def compact(self) -> dict[str, list[object]]:
        """What the ledger keeps to replay caching later: short digests, running
        tokens and labels (never the text)."""
        return {
            "h": [c[:12] for c in self.chain],
            "t": list(self.cumulative),
            "l": [b.label if b.part == "tools" else b.role[0] for b in self.blocks],
        }


def _message_text(m: Message) -> str:
    parts: list[object] = [m.role, m.content]
    if m.name:
        parts.append({"name": m.name})
    if m.images:
        parts.append({"images": [i.sha256 for i in m.images]})
    if m.tool_calls:
        parts.append({"tool_calls": [c.as_dict() for c in m.tool_calls]})
    if m.tool_call_id:
        parts.append({"tool_call_id": m.tool_call_id})
    if len(parts) == 2:
        return f"{m.role}: {m.content}"
    return json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)


def _tool_text(t: Tool) -> str:
    return json.dumps(t.as_dict(), sort_keys=True, ensure_ascii=False, default=str)


def prefix_of(
    tools: Sequence[Tool],
    messages: Sequence[Message],
    message_tokens: Callable[[Message], int],
    tool_tokens: Callable[[Sequence[Tool]], int],
) -> Prefix:
    """The prefix of a request: tools in order, then messages in order.

    ``tool_tokens`` counts a list of tools the provider's way; each tool is given the
    growth of that count (so framing added once lands on the first tool)."""
    blocks: list[Block] = []
    before = 0
    for i, tool in enumerate(tools):
        upto = tool_tokens(tools[: i + 1])
        blocks.append(Block("tools", i, "tool", _tool_text(tool), upto - before))
        before = upto
    for i, m in enumerate(messages):
        blocks.append(Block("messages", i, m.role, _message_text(m), message_tokens(m)))
    chain: list[str] = []
    cumulative: list[int] = []
    running = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    total = 0
    for b in blocks:
        running.update(b.label.encode() if b.part == "tools" else b"m")
        running.update(len(b.text).to_bytes(8, "little"))
        running.update(b.text.encode("utf-8", "surrogatepass"))
        chain.append(running.copy().hexdigest())
        total += b.tokens
        cumulative.append(total)
    return Prefix(tuple(blocks), tuple(chain), tuple(cumulative))


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where a request's prefix first differs from an earlier one's."""

    part: str
    index: int
    #: Character offset of the first difference within that block's text.
    offset: int
    #: A short excerpt of each side from just before the first difference.
    before: str
    after: str
    #: The block position (in the prefix) of the first difference.
    position: int

    def as_dict(self) -> dict[str, object]:
        return {
            "part": self.part,
            "index": self.index,
            "offset": self.offset,
            "before": self.before,
            "after": self.after,
        }

    def describe(self) -> str:
        return f"{self.part}[{self.index}] at character {self.offset}"


def _first_difference(a: str, b: str) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def divergence(previous: Prefix, current: Prefix) -> Divergence | None:
    """Where ``current`` stops sharing ``previous``'s prefix; None when ``current``
    starts with all of ``previous`` (it only adds blocks after it)."""
    shared = previous.shared_with(current)
    if shared >= len(previous):
        return None
    old = previous.blocks[shared]
    if shared >= len(current):  # current is shorter: blocks were removed at the end
        return Divergence(old.part, old.index, 0, _excerpt(old.text, 0), "", shared)
    new = current.blocks[shared]
    if (old.part, old.index) != (new.part, new.index):
        # e.g. a tool removed, so the system prompt moved up: name the new block
        return Divergence(
            new.part, new.index, 0, _excerpt(old.text, 0), _excerpt(new.text, 0), shared
        )
    at = _first_difference(old.text, new.text)
    offset = max(0, at - len(old.role) - 2) if old.part == "messages" else at
    return Divergence(
        new.part, new.index, offset, _excerpt(old.text, at), _excerpt(new.text, at), shared
    )


def _excerpt(text: str, at: int) -> str:
    start = max(0, at - 10)
    piece = text[start : start + _EXCERPT]
    return ("…" if start else "") + piece + ("…" if start + _EXCERPT < len(text) else "")
