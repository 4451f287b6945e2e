"""The manual tool loop: the model asks for tool calls, the user types each result,
and Continue sends them back, as many rounds as the model asks for.

Continuing is one more ``engine.ask``: the results' text as the prompt (for routing and
the cache), the conversation so far as ``history`` (ending with the assistant's
message that made the calls) and one ``tool`` message per result as ``turn``, with the
same tools. In conversation mode the stored conversation is the history instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.types import Message, RequestRecord, ToolCall

__all__ = ["ToolLoop", "results_transcript"]


def results_transcript(results: Sequence[tuple[ToolCall, str]]) -> str:
    """How the sent results read in the output, between the replies."""
    lines = []
    for call, text in results:
        lines.append(f"→ {call.name}({call.arguments})")
        lines.append(f"← {text}")
    return "\n".join(lines)


@dataclass
class ToolLoop:
    """One prompt's rounds of tool calls. ``options`` are the first request's
    ``engine.ask`` options (less its images, which stay in the first message)."""

    options: dict[str, Any]
    history: list[Message] = field(default_factory=list)
    calls: tuple[ToolCall, ...] = ()
    record: RequestRecord | None = None
    _sent: tuple[Message, ...] = ()

    @classmethod
    def start(cls, prompt: str, options: dict[str, Any]) -> ToolLoop:
        keep = {k: v for k, v in options.items() if k != "images"}
        if "conversation_id" in options:
            return cls(keep)  # the stored conversation keeps the messages
        first = Message("user", prompt, images=tuple(options.get("images", ())))
        return cls(keep, [first])

    @property
    def stored(self) -> bool:
        return "conversation_id" in self.options

    def answered(self, record: RequestRecord) -> None:
        """A reply came: the results it answered and its message join the history."""
        self.record = record
        self.calls = tuple(record.tool_calls)
        if not self.stored:
            self.history.extend(self._sent)
            self.history.append(Message("assistant", record.response, tool_calls=self.calls))
        self._sent = ()

    def continuation(self, results: Sequence[tuple[ToolCall, str]]) -> tuple[str, dict[str, Any]]:
        """The prompt and ``engine.ask`` options that send ``results``."""
        turn = tuple(Message("tool", text, tool_call_id=call.id) for call, text in results)
        options = dict(self.options)
        options["turn"] = turn
        if not self.stored:
            options["history"] = tuple(self.history)
        choice = options.get("tool_choice")
        if choice is not None and choice.mode in ("required", "tool"):
            # Forcing a call again would never let the model answer the results.
            del options["tool_choice"]
        if options.get("model") == "auto" and self.record is not None and self.record.tier:
            options["model"] = self.record.tier  # the tier that made the calls answers them
        self._sent = turn
        return "\n\n".join(text for _call, text in results), options
