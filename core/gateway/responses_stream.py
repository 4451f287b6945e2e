"""The Responses API's stream (``POST /v1/responses`` with ``stream: true``).

The events the openai SDK's ``client.responses.stream`` and ``create(stream=True)``
read, each with its ``type`` and a ``sequence_number`` counting from 0:
``response.created`` and ``response.in_progress``; per output item
``response.output_item.added``, then for a message ``response.content_part.added``,
``response.output_text.delta``..., ``response.output_text.done`` and
``response.content_part.done``, or for a call ``response.function_call_arguments.delta``...
and ``.done``; ``response.output_item.done``; and last ``response.completed`` (or
``response.incomplete`` at the token limit) with the whole response and its usage.
An error mid-stream is an ``error`` event.
"""

from __future__ import annotations

import json
import time
from typing import Any

from core.gateway.request import ChatRequest, GatewayHTTPError
from core.gateway.responses_api import call_item, message_item, response_object, response_status
from core.types import Delta, RequestRecord, ToolCall, ToolCallDelta

__all__ = ["ResponsesFrames"]


class ResponsesFrames:
    """The Responses events for one stream. Output items are numbered in the order
    they open (a message for text, one item per tool call); each closes when the next
    opens, and the final response lists them as streamed."""

    __slots__ = (
        "_calls",
        "_created",
        "_echo",
        "_items",
        "_model",
        "_open",
        "_request_id",
        "_rid",
        "_seq",
        "_text_at",
        "_texts",
    )

    def __init__(self, request_id: str, model: str, req: ChatRequest) -> None:
        self._request_id = request_id
        self._rid = request_id.removeprefix("req_")
        self._model = model
        self._echo = dict(req.echo)
        self._created = time.time()
        self._seq = 0
        self._items: list[dict[str, Any]] = []  # by output index, as they will end
        self._texts: dict[int, list[str]] = {}  # a message item's text so far
        self._calls: dict[int, int] = {}  # a call's index in the reply -> its output index
        self._open: int | None = None
        self._text_at: int | None = None  # the open item, when it is a message

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return (
            f"event: {kind}\ndata: ".encode()
            + json.dumps(data, ensure_ascii=False).encode()
            + b"\n\n"
        )

    def _response(self, rec: RequestRecord | None = None, centwise: Any = None) -> dict[str, Any]:
        output = self._items if rec is not None else []
        return response_object(
            self._request_id, self._model, self._created, self._echo, output, rec, centwise
        )

    # -- items ----------------------------------------------------------------------

    def _close(self) -> bytes:
        at = self._open
        if at is None:
            return b""
        self._open = self._text_at = None
        item = self._items[at]
        if item["type"] == "message":
            text = "".join(self._texts.pop(at))
            done = message_item(item["id"], text)
            part = done["content"][0]
            where = {"item_id": item["id"], "output_index": at, "content_index": 0}
            out = self._event("response.output_text.done", **where, text=text, logprobs=[])
            out += self._event("response.content_part.done", **where, part=part)
        else:
            done = {**item, "status": "completed"}
            out = self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=at,
                arguments=item["arguments"],
            )
        self._items[at] = done
        return out + self._event("response.output_item.done", output_index=at, item=done)

    def _add(self, item: dict[str, Any]) -> tuple[int, bytes]:
        out = self._close()
        at = self._open = len(self._items)
        self._items.append(item)
        return at, out + self._event("response.output_item.added", output_index=at, item=item)

    def _message(self) -> tuple[int, bytes]:
        n = sum(1 for item in self._items if item["type"] == "message")
        item_id = f"msg_{self._rid}" if n == 0 else f"msg_{self._rid}_{n}"
        at, out = self._add(message_item(item_id, "", status="in_progress"))
        self._text_at = at
        self._texts[at] = []
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        out += self._event(
            "response.content_part.added",
            item_id=item_id,
            output_index=at,
            content_index=0,
            part=part,
        )
        return at, out

    def _call(self, index: int, call: ToolCall) -> tuple[int, bytes]:
        item = call_item(f"fc_{self._rid}_{index}", call, status="in_progress")
        at, out = self._add(item)
        self._calls[index] = at
        return at, out

    def _arguments(self, at: int, text: str) -> bytes:
        item = self._items[at]
        item["arguments"] += text
        return self._event(
            "response.function_call_arguments.delta",
            item_id=item["id"],
            output_index=at,
            delta=text,
        )

    # -- the stream -----------------------------------------------------------------

    def start(self, first: Delta | None) -> bytes:
        out = self._event("response.created", response=self._response())
        out += self._event("response.in_progress", response=self._response())
        if first is None:
            return out
        return out + (self.delta(first) if isinstance(first, str) else self.tool(first))

    def delta(self, text: str) -> bytes:
        at, out = (self._text_at, b"") if self._text_at is not None else self._message()
        self._texts[at].append(text)
        item_id = self._items[at]["id"]
        return out + self._event(
            "response.output_text.delta",
            item_id=item_id,
            output_index=at,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def tool(self, piece: ToolCallDelta) -> bytes:
        if piece.id is not None:
            at, out = self._call(piece.index, ToolCall(piece.id, piece.name or "", ""))
        elif piece.index in self._calls:
            at, out = self._calls[piece.index], b""
        else:  # a piece of a call that never began: nowhere to put it
            return b""
        return out + (self._arguments(at, piece.arguments) if piece.arguments else b"")

    def end(self, rec: RequestRecord, centwise: dict[str, Any]) -> bytes:
        out = b""
        streamed = {item.get("call_id") for item in self._items}
        for k, call in enumerate(rec.tool_calls):  # calls the provider gave only whole
            if call.id not in streamed:
                at, added = self._call(k, ToolCall(call.id, call.name, ""))
                out += added + self._arguments(at, call.arguments)
        if not self._items:  # an empty reply is one empty message
            out += self._message()[1]
        out += self._close()
        status, _ = response_status(rec)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event(kind, response=self._response(rec, centwise))

    def error(self, err: GatewayHTTPError) -> bytes:
        return self._event("error", code=err.code, message=err.message, param=err.param)
