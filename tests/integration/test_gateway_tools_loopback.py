"""Whole tool loops through the gateway to every provider kind: the ``openai`` SDK
(Chat Completions and Responses) and the ``anthropic`` SDK (Messages) call the gateway,
whose engine calls loopback look-alikes of the OpenAI, OpenAI-compatible, Anthropic,
Gemini and Ollama APIs (tests/integration/servers, which refuse what the real APIs
refuse). The model asks for a tool, the client sends the result, the model answers;
each loop runs with the client streaming and not (the engine streams from the provider
either way).

Checks both directions and the ledger: what the provider is sent (the tool, the
question's image, the replayed call and the result tied to it, in its own format), what
the client gets back (the call re-assembled by the SDK, then the answer), and the two
ledger rows (the call, the tools, the image, the result). Arguments that are not JSON
reach the client as the provider sent them, with a warning in the ledger."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from core.config import parse_config
from core.gateway import GatewayServer, start_gateway
from core.providers.gemini import SKIP_SIGNATURE
from core.types import RequestRecord, Secret
from tests.integration.gateway_support import (
    TOKEN,
    ledger_records,
    openai_sdk,
    png_bytes,
    png_data_url,
)
from tests.integration.servers import (
    AnthropicDialect,
    Behaviour,
    Dialect,
    GeminiDialect,
    LoopbackServer,
    OllamaDialect,
    OpenAIDialect,
    serve,
)

NAME = "get_weather"
DESCRIPTION = "The weather in a city, now."
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
    "required": ["city"],
}
ARGS = {"city": "Oslo", "unit": "C"}
ARGS_TEXT = json.dumps(ARGS)
#: Arguments cut off mid-object, as a provider may send them.
BAD_ARGS = '{"city": "Oslo", "unit": '
ASK = "Weather here?"
SAID = "Let me check."
RESULT = "3 C, cloudy"
ANSWER = "It is 3 C."
PNG = png_bytes(8, 8)
PNG_B64 = base64.b64encode(PNG).decode()
#: The tool as the ledger keeps it, whichever client defined it.
TOOL_DETAIL = {"name": NAME, "description": DESCRIPTION, "parameters": SCHEMA, "strict": False}
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])


# -- each kind's wire: the tool, and the question, call and result --------------------


def _openai_turns(call_id: str) -> list[Any]:
    image = {"type": "image_url", "image_url": {"url": png_data_url(PNG), "detail": "auto"}}
    call = {"id": call_id, "type": "function", "function": {"name": NAME, "arguments": ARGS_TEXT}}
    return [
        {"role": "user", "content": [{"type": "text", "text": ASK}, image]},
        {"role": "assistant", "content": SAID, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": RESULT},
    ]


def _anthropic_turns(call_id: str) -> list[Any]:
    source = {"type": "base64", "media_type": "image/png", "data": PNG_B64}
    use = {"type": "tool_use", "id": call_id, "name": NAME, "input": ARGS}
    result = {"type": "tool_result", "tool_use_id": call_id, "content": RESULT}
    return [
        {
            "role": "user",
            "content": [{"type": "image", "source": source}, {"type": "text", "text": ASK}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": SAID}, use]},
        {"role": "user", "content": [result]},
    ]


def _gemini_turns(call_id: str) -> list[Any]:
    # Gemini ties a result to its call by the function's name; the call's id, when
    # the model gave one, is not sent back (the API refuses it).
    call = {"functionCall": {"name": NAME, "args": ARGS}, "thoughtSignature": SKIP_SIGNATURE}
    response = {"name": NAME, "response": {"result": RESULT}}
    return [
        {
            "role": "user",
            "parts": [{"text": ASK}, {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}],
        },
        {"role": "model", "parts": [{"text": SAID}, call]},
        {"role": "user", "parts": [{"functionResponse": response}]},
    ]


def _ollama_turns(call_id: str) -> list[Any]:
    # Ollama's calls carry no id; a result names the tool instead.
    call = {"function": {"name": NAME, "arguments": ARGS}}
    return [
        {"role": "user", "content": ASK, "images": [PNG_B64]},
        {"role": "assistant", "content": SAID, "tool_calls": [call]},
        {"role": "tool", "content": RESULT, "tool_name": NAME},
    ]


_FUNCTION = {"name": NAME, "description": DESCRIPTION, "parameters": SCHEMA}
OPENAI_TOOLS = [{"type": "function", "function": _FUNCTION}]
ANTHROPIC_TOOLS = [{"name": NAME, "description": DESCRIPTION, "input_schema": SCHEMA}]
GEMINI_TOOLS = [
    {
        "functionDeclarations": [
            {"name": NAME, "description": DESCRIPTION, "parametersJsonSchema": SCHEMA}
        ]
    }
]


@dataclass(frozen=True)
class Wire:
    """One provider API's format, as its loopback server speaks it."""

    dialect: type[Dialect]
    prefix: str
    #: The tool definitions as this API takes them (``body["tools"]``).
    tools: list[Any]
    #: The body key of the conversation, and the conversation of the second request
    #: for a call id.
    turns_key: str
    turns: Callable[[str], list[Any]]


OPENAI_WIRE = Wire(OpenAIDialect, "/v1", OPENAI_TOOLS, "messages", _openai_turns)
ANTHROPIC_WIRE = Wire(AnthropicDialect, "", ANTHROPIC_TOOLS, "messages", _anthropic_turns)
GEMINI_WIRE = Wire(GeminiDialect, "/v1beta", GEMINI_TOOLS, "contents", _gemini_turns)
OLLAMA_WIRE = Wire(OllamaDialect, "", OPENAI_TOOLS, "messages", _ollama_turns)


@dataclass(frozen=True)
class Kind:
    """One provider kind behind the gateway."""

    #: The provider's name in the config (the prefix of ``ref``).
    name: str
    kind: str
    model: str
    #: The call id the loopback provider sends; "" sends none (Centwise gives ``call_0``).
    sent_id: str
    wire: Wire

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.model}"

    @property
    def call_id(self) -> str:
        """The id the client sees for the call."""
        return self.sent_id or "call_0"


KINDS = [
    Kind("oai", "openai", "gpt-4o-mini", "call_x1", OPENAI_WIRE),
    Kind("compat", "openai-compatible", "gpt-4o-mini", "call_x2", OPENAI_WIRE),
    Kind("ant", "anthropic", "claude-haiku-4-5", "toolu_01", ANTHROPIC_WIRE),
    # Gemini gives an id only sometimes, Ollama usually none.
    Kind("gem", "gemini", "gemini-2.5-flash", "fc-1", GEMINI_WIRE),
    Kind("oll", "ollama", "llama3.1", "", OLLAMA_WIRE),
]
EVERY_KIND = pytest.mark.parametrize("kind", KINDS, ids=[k.kind for k in KINDS])


# -- one gateway in front of one loopback server per kind --------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, LoopbackServer]]:
    with contextlib.ExitStack() as stack:
        yield {k.name: stack.enter_context(serve(k.wire.dialect(), k.wire.prefix)) for k in KINDS}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tools-loopback") / "data"


@pytest.fixture(scope="module")
def gateway(servers: dict[str, LoopbackServer], data_dir: Path) -> Iterator[GatewayServer]:
    providers = "".join(
        f'[providers.{k.name}]\nkind = "{k.kind}"\n'
        f'base_url = "{servers[k.name].base_url}"\nmax_attempts = 1\n'
        for k in KINDS
    )
    text = f"""
[cache]
enabled = false
[budget]
max_input_tokens = 100000
[observability]
quality_sampling_rate = 0
{providers}
[[routing.tiers]]
id = "only"
provider = "oai"
model = "gpt-4o-mini"
max_complexity = 10
"""
    server = start_gateway(
        parse_config(text, "test.toml"),
        data_dir,
        TOKEN,
        host="127.0.0.1",
        port=0,
        key_lookup=lambda name: Secret("sk-loopback-test"),
        client_factory=lambda: httpx.AsyncClient(trust_env=False),
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _nothing_left_queued(servers: dict[str, LoopbackServer]) -> Iterator[None]:
    """A test that fails half-way leaves no scripted reply to the next one."""
    yield
    for server in servers.values():
        while server.next_behaviour() is not server.default:
            pass


def _anthropic(gw: GatewayServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=gw.url,
        api_key=TOKEN,
        http_client=httpx2.Client(trust_env=False),
        max_retries=0,
    )


def _script(server: LoopbackServer, kind: Kind) -> int:
    """Queue a call then an answer; return where this test's requests start."""
    call = (kind.sent_id, NAME, ARGS_TEXT)
    server.queue(Behaviour(text=SAID, tool_calls=[call], tool_chunks=4), Behaviour(text=ANSWER))
    return len(server.requests)


def _tool_warnings(rec: RequestRecord) -> list[str]:
    return [w for w in rec.warnings if "tool call" in w]


def _check_loop(
    kind: Kind, server: LoopbackServer, since: int, data_dir: Path, ids: list[str]
) -> None:
    """The two requests the provider got, in its own format, and their ledger rows."""
    sent = [r.json for r in server.requests[since:]]
    assert len(sent) == 2, sent
    wire = kind.wire
    turns = wire.turns(kind.call_id)
    assert sent[0]["tools"] == sent[1]["tools"] == wire.tools
    assert sent[0][wire.turns_key] == turns[:1]
    assert sent[1][wire.turns_key] == turns

    first, second = ledger_records(data_dir, *("req_" + i for i in ids))
    assert first is not None and second is not None
    for rec in (first, second):
        assert (rec.status, rec.provider, rec.model) == ("ok", kind.name, kind.model)
        assert rec.warnings == []
    assert [c.as_dict() for c in first.tool_calls] == [
        {"id": kind.call_id, "name": NAME, "arguments": ARGS_TEXT}
    ]
    assert (first.response, first.finish_reason) == (SAID, "tool_calls")
    assert set(first.request_detail) == {"tools", "images"}
    assert first.request_detail["tools"] == [TOOL_DETAIL]
    (image,) = first.request_detail["images"]  # type: ignore[misc]
    assert image["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert (image["media_type"], image["width"], image["height"]) == ("image/png", 8, 8)
    assert second.tool_calls == [] and second.response == ANSWER
    assert second.request_detail == {
        "tools": [TOOL_DETAIL],
        "tool_results": [{"tool_call_id": kind.call_id, "content": RESULT}],
    }


# -- Chat Completions ---------------------------------------------------------------------


def _chat(client: openai.OpenAI, messages: list[Any], stream: bool, **kw: Any) -> Any:
    """A completion, streamed through the SDK's helper (which re-assembles the calls)
    or not."""
    if not stream:
        return client.chat.completions.create(messages=messages, **kw)
    with client.chat.completions.stream(messages=messages, **kw) as s:
        for _ in s:
            pass
        return s.get_final_completion()


def _called(call: Any) -> tuple[str, str, str]:
    """A Chat Completions tool call as (id, name, arguments)."""
    return call.id, call.function.name, call.function.arguments


@EVERY_KIND
@STREAM
def test_chat_completions_tool_loop(
    gateway: GatewayServer,
    servers: dict[str, LoopbackServer],
    data_dir: Path,
    kind: Kind,
    stream: bool,
) -> None:
    server = servers[kind.name]
    since = _script(server, kind)
    image = {"type": "image_url", "image_url": {"url": png_data_url(PNG)}}
    question = {"role": "user", "content": [{"type": "text", "text": ASK}, image]}
    tool = {"type": "function", "function": _FUNCTION}
    with openai_sdk(gateway) as client:
        first = _chat(client, [question], stream, model=kind.ref, tools=[tool])
        message = first.choices[0].message
        (call,) = message.tool_calls or []
        assert _called(call) == (kind.call_id, NAME, ARGS_TEXT)
        assert (message.content, first.choices[0].finish_reason) == (SAID, "tool_calls")
        assistant = {
            "role": "assistant",
            "content": message.content,
            "tool_calls": [call.model_dump(exclude={"function": {"parsed_arguments"}})],
        }
        result = {"role": "tool", "tool_call_id": call.id, "content": RESULT}
        second = _chat(client, [question, assistant, result], stream, model=kind.ref, tools=[tool])
    assert second.choices[0].message.content == ANSWER
    assert second.choices[0].finish_reason == "stop" and not second.choices[0].message.tool_calls
    ids = [c.id.removeprefix("chatcmpl-") for c in (first, second)]
    _check_loop(kind, server, since, data_dir, ids)


# -- Anthropic Messages ---------------------------------------------------------------------


def _message(client: anthropic.Anthropic, messages: list[Any], stream: bool, **kw: Any) -> Any:
    if not stream:
        return client.messages.create(messages=messages, **kw)
    with client.messages.stream(messages=messages, **kw) as s:
        return s.get_final_message()


@EVERY_KIND
@STREAM
def test_messages_tool_loop(
    gateway: GatewayServer,
    servers: dict[str, LoopbackServer],
    data_dir: Path,
    kind: Kind,
    stream: bool,
) -> None:
    server = servers[kind.name]
    since = _script(server, kind)
    source = {"type": "base64", "media_type": "image/png", "data": PNG_B64}
    question = {
        "role": "user",
        "content": [{"type": "image", "source": source}, {"type": "text", "text": ASK}],
    }
    kw: dict[str, Any] = {"model": kind.ref, "max_tokens": 300, "tools": ANTHROPIC_TOOLS}
    with _anthropic(gateway) as client:
        first = _message(client, [question], stream, **kw)
        assert [b.type for b in first.content] == ["text", "tool_use"]
        said, use = first.content
        assert said.text == SAID and first.stop_reason == "tool_use"
        assert (use.id, use.name, use.input) == (kind.call_id, NAME, ARGS)
        history = [
            question,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        ]
        result = {"type": "tool_result", "tool_use_id": use.id, "content": RESULT}
        second = _message(client, [*history, {"role": "user", "content": [result]}], stream, **kw)
    assert [(b.type, b.text) for b in second.content] == [("text", ANSWER)]
    assert second.stop_reason == "end_turn"
    ids = [m.id.removeprefix("msg_") for m in (first, second)]
    _check_loop(kind, server, since, data_dir, ids)


# -- OpenAI Responses -------------------------------------------------------------------------


def _respond(client: openai.OpenAI, items: list[Any], stream: bool, **kw: Any) -> Any:
    if not stream:
        return client.responses.create(input=items, **kw)
    with client.responses.stream(input=items, **kw) as s:
        for _ in s:
            pass
        return s.get_final_response()


@EVERY_KIND
@STREAM
def test_responses_tool_loop(
    gateway: GatewayServer,
    servers: dict[str, LoopbackServer],
    data_dir: Path,
    kind: Kind,
    stream: bool,
) -> None:
    """The client passes the first response's output back as it came (its message and
    its call), then the call's output."""
    server = servers[kind.name]
    since = _script(server, kind)
    image = {"type": "input_image", "image_url": png_data_url(PNG), "detail": "auto"}
    question = {"role": "user", "content": [{"type": "input_text", "text": ASK}, image]}
    tool = {"type": "function", **_FUNCTION}
    with openai_sdk(gateway) as client:
        first = _respond(client, [question], stream, model=kind.ref, tools=[tool])
        assert [item.type for item in first.output] == ["message", "function_call"]
        call = first.output[1]
        assert (call.call_id, call.name, call.arguments) == (kind.call_id, NAME, ARGS_TEXT)
        assert first.output_text == SAID and first.status == "completed"
        items = [
            question,
            *(item.model_dump(exclude_none=True) for item in first.output),
            {"type": "function_call_output", "call_id": call.call_id, "output": RESULT},
        ]
        second = _respond(client, items, stream, model=kind.ref, tools=[tool])
    assert second.output_text == ANSWER
    assert [item.type for item in second.output] == ["message"]
    ids = [r.id.removeprefix("resp_") for r in (first, second)]
    _check_loop(kind, server, since, data_dir, ids)


# -- arguments that are not JSON ------------------------------------------------------------

#: Kinds whose API can carry arguments that are not JSON: OpenAI-style ones send them as
#: text, Ollama passes a model's text on as it is, and Anthropic streams the input as
#: JSON text (the engine streams from every provider, whether the client streams or
#: not). Gemini's calls come whole with an object, so broken JSON cannot arrive.
TEXT_ARGUMENTS = [k for k in KINDS if k.kind != "gemini"]


@pytest.mark.parametrize("kind", TEXT_ARGUMENTS, ids=[k.kind for k in TEXT_ARGUMENTS])
@STREAM
def test_arguments_that_are_not_json_reach_the_client_as_sent(
    gateway: GatewayServer,
    servers: dict[str, LoopbackServer],
    data_dir: Path,
    kind: Kind,
    stream: bool,
) -> None:
    server = servers[kind.name]
    server.queue(Behaviour(text="", tool_calls=[(kind.sent_id, NAME, BAD_ARGS)], tool_chunks=3))
    tool = {"type": "function", "function": _FUNCTION}
    with openai_sdk(gateway) as client:
        reply = _chat(
            client, [{"role": "user", "content": ASK}], stream, model=kind.ref, tools=[tool]
        )
    (call,) = reply.choices[0].message.tool_calls or []
    assert _called(call) == (kind.call_id, NAME, BAD_ARGS)
    assert reply.choices[0].finish_reason == "tool_calls"
    assert server.last.json["tools"] == kind.wire.tools
    (rec,) = ledger_records(data_dir, "req_" + reply.id.removeprefix("chatcmpl-"))
    assert rec is not None and rec.status == "ok"
    assert [c.as_dict() for c in rec.tool_calls] == [
        {"id": kind.call_id, "name": NAME, "arguments": BAD_ARGS}
    ]
    assert _tool_warnings(rec) == [
        f"the arguments of tool call {kind.call_id!r} ({NAME}) are not valid JSON;"
        " passed on as the provider sent them"
    ]


@pytest.mark.parametrize("kind", [KINDS[2], KINDS[0]], ids=["ant", "oai"])
def test_cache_marks_reach_anthropic_as_given_and_are_reported_elsewhere(
    gateway: GatewayServer, servers: dict[str, LoopbackServer], data_dir: Path, kind: Kind
) -> None:
    """The anthropic SDK's ``cache_control`` marks on the system prompt, a tool and the
    last message are sent as given to an Anthropic provider; another kind caches on its
    own terms, and the ledger row says the marks were left out."""
    server = servers[kind.name]
    mark = {"type": "ephemeral"}
    tools = [{**ANTHROPIC_TOOLS[0], "cache_control": mark}]
    system = [{"type": "text", "text": "Be brief.", "cache_control": mark}]
    question = {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": mark}]}
    with _anthropic(gateway) as client:
        reply = client.messages.create(
            model=kind.ref, max_tokens=50, system=system, tools=tools, messages=[question]
        )
    (rec,) = ledger_records(data_dir, "req_" + reply.id.removeprefix("msg_"))
    assert rec.status == "ok" and rec.request_detail["cache_marks"] == 3
    body = server.last.json
    if kind.kind == "anthropic":
        assert body["system"] == system and body["tools"][0]["cache_control"] == mark
        assert body["messages"][-1]["content"] == [question["content"][0]]
        assert not any("cache_control" in w for w in rec.warnings)
    else:
        assert "cache_control" not in json.dumps(body)
        assert any("3 cache_control mark(s) left out: openai" in w for w in rec.warnings)
