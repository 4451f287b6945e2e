"""Tools, tool results and images through the whole pipeline on the Simulator: the
reply's tool calls (streamed and whole), the loop after a tool result, the ledger, the
cache key, context windows, routing by capability and refusals by name."""

from __future__ import annotations

import io
import json

import jsonschema
import pytest
from PIL import Image

from core.content.images import image_from_bytes, openai_image_tokens
from core.content.tools import ToolResultError, parse_tools
from core.engine import Engine
from core.errors import UnsupportedParameterError
from core.types import Message, ToolCall, ToolCallDelta, ToolChoice

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
    },
}
STOCKS = {
    "type": "function",
    "function": {
        "name": "stock_price",
        "description": "Latest price of a stock ticker",
        "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}},
    },
}
TOOLS = parse_tools([WEATHER, STOCKS])
ASK = "What is the weather in Paris right now?"


def png(width: int, height: int, colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


async def test_a_request_with_tools_is_answered_with_a_call_that_follows_the_schema(
    make_engine,
):
    engine: Engine = make_engine()
    reply = engine.ask(ASK, tools=TOOLS, model="fast")
    pieces = [d async for d in reply]
    rec = reply.record
    assert rec is not None and rec.status == "ok" and rec.finish_reason == "tool_calls"
    (call,) = rec.tool_calls
    assert call.name == "get_weather"  # the tool the prompt is about, not the other
    args = json.loads(call.arguments)
    jsonschema.validate(args, WEATHER["function"]["parameters"])
    assert args["city"] == "Paris"
    deltas = [d for d in pieces if isinstance(d, ToolCallDelta)]
    assert deltas[0].id == call.id and deltas[0].name == "get_weather"
    assert "".join(d.arguments for d in deltas) == call.arguments
    assert rec.response == "" and rec.cost_usd and rec.cost_usd > 0
    # The estimate counts the tool definitions as the Simulator's usage does.
    assert rec.estimated_input_tokens == rec.usage.input_tokens
    plain = await engine.ask(ASK, model="fast").collect()
    assert rec.usage.input_tokens > plain.usage.input_tokens + 20
    stored = engine.history(0, 5)[1]
    assert stored.request_id == rec.request_id and stored.tool_calls == [call]
    assert [t["name"] for t in stored.request_detail["tools"]] == ["get_weather", "stock_price"]


async def test_tool_choice_none_required_and_named(make_engine):
    engine: Engine = make_engine()
    none = await engine.ask(ASK, tools=TOOLS, tool_choice=ToolChoice("none")).collect()
    assert none.tool_calls == [] and none.response
    unrelated = "Tell me a joke about penguins."
    assert (await engine.ask(unrelated, tools=TOOLS).collect()).tool_calls == []
    forced = await engine.ask(unrelated, tools=TOOLS, tool_choice=ToolChoice("required")).collect()
    assert len(forced.tool_calls) == 1
    named = engine.ask(ASK, tools=TOOLS, tool_choice=ToolChoice("tool", "stock_price"))
    rec = await named.collect()
    assert rec.tool_calls[0].name == "stock_price"
    assert rec.request_detail["tool_choice"] == "tool:stock_price"


async def test_the_loop_continues_after_a_tool_result(make_engine):
    engine: Engine = make_engine()
    first = await engine.ask(ASK, tools=TOOLS, model="fast").collect()
    calls = tuple(first.tool_calls)
    history = [Message("user", ASK), Message("assistant", "", tool_calls=calls)]
    result = Message("tool", '{"temp_c": 21}', tool_call_id=calls[0].id)
    second = await engine.ask(
        result.content, history=history, turn=[result], tools=TOOLS, model="fast"
    ).collect()
    assert second.status == "ok" and second.tool_calls == []
    assert second.finish_reason == "stop" and '{"temp_c": 21}' in second.response
    assert second.request_detail["tool_results"] == [
        {"tool_call_id": calls[0].id, "content": '{"temp_c": 21}'}
    ]


async def test_a_tool_result_for_no_call_is_refused_and_recorded(make_engine):
    engine: Engine = make_engine()
    history = [Message("user", ASK)]
    stray = Message("tool", "21", tool_call_id="call_nowhere")
    reply = engine.ask("21", history=history, turn=[stray], tools=TOOLS)
    with pytest.raises(ToolResultError, match="matches no earlier tool call"):
        await reply.collect()
    assert reply.record is not None and reply.record.status == "rejected"
    assert engine.history(0, 1)[0].status == "rejected"


async def test_tool_calls_are_not_cached_but_answers_after_identical_results_are(make_engine):
    engine: Engine = make_engine(cache=True)
    one = await engine.ask(ASK, tools=TOOLS, model="fast").collect()
    two = await engine.ask(ASK, tools=TOOLS, model="fast").collect()
    assert one.cache_outcome == two.cache_outcome == "miss"  # an action, not an answer
    history = [Message("user", ASK), Message("assistant", "", tool_calls=tuple(one.tool_calls))]

    async def answer(result: str):
        turn = [Message("tool", result, tool_call_id=one.tool_calls[0].id)]
        return await engine.ask(
            result, history=history, turn=turn, tools=TOOLS, model="fast"
        ).collect()

    first = await answer('{"temp_c": 21}')
    assert first.cache_outcome == "miss"
    assert (await answer('{"temp_c": 21}')).cache_outcome == "exact"
    other = await answer('{"temp_c": 22}')  # another result: never the cached answer
    assert other.cache_outcome == "miss" and "22" in other.response
    # The same prompt without tools, or with other tools, is another namespace.
    bare = await engine.ask(ASK, model="fast").collect()
    assert bare.cache_outcome == "miss" and bare.tool_calls == []


async def test_images_are_counted_by_the_models_rule_and_key_the_cache(make_engine):
    engine: Engine = make_engine(cache=True)
    red = image_from_bytes(png(1024, 1024), "red.png")
    blue = image_from_bytes(png(1024, 1024, "blue"), "blue.png")
    question = "What colour is this picture?"
    plain = await engine.ask(question, model="fast").collect()
    rec = await engine.ask(question, images=[red], model="fast").collect()
    tokens = openai_image_tokens(1024, 1024, "auto", "gpt-4.1-nano")  # the fast tier's model
    assert rec.usage.input_tokens - plain.usage.input_tokens == tokens
    assert rec.estimated_input_tokens == rec.usage.input_tokens
    (described,) = rec.request_detail["images"]
    assert described["sha256"] == red.sha256 and described["tokens"] == tokens
    assert (described["width"], described["height"]) == (1024, 1024)
    again = await engine.ask(question, images=[red], model="fast").collect()
    assert again.cache_outcome == "exact"
    other = await engine.ask(question, images=[blue], model="fast").collect()
    assert other.cache_outcome == "miss"  # a semantic match needs identical images
    assert (await engine.ask(question, model="fast").collect()).cache_outcome == "exact"


async def test_a_provider_that_cannot_take_images_refuses_them_by_name(make_engine, monkeypatch):
    engine: Engine = make_engine()
    provider = engine.services.provider("simulator")
    monkeypatch.setattr(provider, "images_supported", False)
    image = image_from_bytes(png(8, 8), "x.png")
    reply = engine.ask("Describe it", images=[image], model="fast")
    with pytest.raises(UnsupportedParameterError, match=r"messages\[0\] image 1: images"):
        await reply.collect()
    assert reply.record is not None and reply.record.status == "rejected"
    monkeypatch.setattr(provider, "max_image_bytes", 10)
    monkeypatch.setattr(provider, "images_supported", True)
    with pytest.raises(UnsupportedParameterError, match=r"the limit is 10\)"):
        await engine.ask("Describe it", images=[image], model="fast").collect()


VISIONLESS_FAST = """
[[routing.tiers]]
id = "fast"
provider = "simulator"
model = "gpt-4.1-nano"
max_complexity = 3
supports_vision = false
[[routing.tiers]]
id = "balanced"
provider = "simulator"
model = "gpt-4.1-mini"
max_complexity = 6
[[routing.tiers]]
id = "premium"
provider = "simulator"
model = "gpt-4.1"
max_complexity = 10
"""


async def test_routing_skips_a_tier_whose_model_cannot_serve_the_request(make_engine):
    engine: Engine = make_engine(VISIONLESS_FAST)
    text = await engine.ask("Hi there").collect()
    assert text.tier == "fast"
    image = image_from_bytes(png(16, 16), "x.png")
    rec = await engine.ask("Hi there", images=[image]).collect()
    assert rec.tier == "balanced"
    skipped = [r for r in rec.route_reasons if r["feature"] == "capability"]
    assert "skipped fast (gpt-4.1-nano): cannot read images" in str(skipped[0]["value"])
    features = {r["feature"] for r in rec.route_reasons}
    assert "images" in features


def capture(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Message, ...]]:
    """The messages each provider call is sent."""
    provider = engine.services.provider("simulator")
    original = provider.stream
    sent: list[tuple[Message, ...]] = []

    def stream(request):
        sent.append(request.messages)
        return original(request)

    monkeypatch.setattr(provider, "stream", stream)
    return sent


@pytest.mark.parametrize("window", [1, 2, 3, 4])
async def test_the_window_never_separates_a_tool_call_from_its_result(
    make_engine, monkeypatch, window: int
):
    engine: Engine = make_engine(f"[context]\nmax_history_messages = {window}\n")
    sent = capture(engine, monkeypatch)
    call = ToolCall("c1", "get_weather", '{"city": "Oslo", "unit": "c"}')
    history = [
        Message("user", "Weather in Oslo?"),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "-3", tool_call_id="c1"),
        Message("assistant", "It is -3 in Oslo."),
    ]
    rec = await engine.ask("Thanks!", history=history, tools=TOOLS, model="fast").collect()
    assert rec.status == "ok"
    (messages,) = sent
    has_call = any(m.tool_calls for m in messages)
    has_result = any(m.role == "tool" for m in messages)
    assert has_call == has_result  # together or not at all
    assert has_call == (window >= 3)  # the newest plain answer, then the pair
    assert len(messages) - 1 <= window


async def test_a_cut_history_keeps_the_call_the_results_answer(make_engine, monkeypatch):
    engine: Engine = make_engine("[context]\nmax_history_messages = 1\n")
    sent = capture(engine, monkeypatch)
    call = ToolCall("c1", "get_weather", '{"city": "Oslo", "unit": "c"}')
    history = [
        Message("user", "old question " * 20),
        Message("assistant", "old answer " * 20),
        Message("user", "Weather in Oslo?"),
        Message("assistant", "", tool_calls=(call,)),
    ]
    turn = [Message("tool", "-3", tool_call_id="c1")]
    rec = await engine.ask("-3", history=history, turn=turn, tools=TOOLS, model="fast").collect()
    assert rec.status == "ok" and "-3" in rec.response
    (messages,) = sent
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[1].tool_calls == (call,) and messages[0].content == "Weather in Oslo?"


async def test_a_stored_conversation_keeps_tool_calls_results_and_images(make_engine, monkeypatch):
    engine: Engine = make_engine()
    sent = capture(engine, monkeypatch)
    cid = engine.start_conversation()
    image = image_from_bytes(png(32, 32), "x.png")
    first = await engine.ask(
        "What is the weather in Paris? See the photo.", images=[image], tools=TOOLS,
        conversation_id=cid, model="fast",
    ).collect()  # fmt: skip
    (call,) = first.tool_calls
    turn = [Message("tool", "sunny", tool_call_id=call.id)]
    second = await engine.ask(
        "sunny", turn=turn, tools=TOOLS, conversation_id=cid, model="fast"
    ).collect()
    assert second.status == "ok" and "sunny" in second.response
    roles = [m.role for m in sent[1]]
    assert roles == ["user", "assistant", "tool"]  # the stored call, then its result
    assert sent[1][0].images[0].data == image.data  # the photo is sent again, whole
    stored = engine.conversation(cid)
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[1].tool_calls == (call,) and stored[2].tool_call_id == call.id
    assert stored[0].images[0].sha256 == image.sha256


OLLAMA = """
[providers.local]
kind = "ollama"
base_url = "http://127.0.0.1:9"
[[routing.tiers]]
id = "fast"
provider = "local"
model = "llama3.2"
max_complexity = 10
"""


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"tool_choice": ToolChoice("required")}, "tool_choice 'required'"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
    ],
)
async def test_what_a_provider_cannot_enforce_is_refused_before_sending(
    make_engine, kwargs: dict[str, object], named: str
):
    engine: Engine = make_engine(OLLAMA)
    reply = engine.ask(ASK, tools=TOOLS, model="fast", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedParameterError, match=f"{named}.*ollama provider 'local'") as e:
        await reply.collect()
    assert e.value.where == named.split(" ")[0] or e.value.where == named
    assert reply.record is not None and reply.record.status == "rejected"
    assert reply.record.attempts == []  # nothing was sent
    strict = parse_tools([{**WEATHER, "function": {**WEATHER["function"], "strict": True}}])
    with pytest.raises(UnsupportedParameterError, match=r"strict tool schemas \(get_weather\)"):
        await engine.ask(ASK, tools=strict, model="fast").collect()


async def test_the_estimate_counts_tools_images_and_a_schema_as_the_request_does(make_engine):
    from core.types import ResponseFormat

    engine: Engine = make_engine(VISIONLESS_FAST)
    image = image_from_bytes(png(300, 200), "x.png")
    schema = ResponseFormat(schema={"type": "object", "properties": {"answer": {"type": "string"}}})
    kwargs = {"tools": TOOLS, "images": [image], "response_format": schema}
    est = engine.estimate("Hi there", **kwargs)  # type: ignore[arg-type]
    rec = await engine.ask("Hi there", **kwargs).collect()  # type: ignore[arg-type]
    assert est.tier == rec.tier == "balanced"  # the tier that can read the image
    assert est.input_tokens == rec.estimated_input_tokens == rec.usage.input_tokens
    plain = engine.estimate("Hi there", model="balanced")
    assert est.input_tokens > plain.input_tokens + 100


async def test_cache_marks_a_provider_cannot_take_are_left_out_with_a_warning(make_engine):
    engine: Engine = make_engine()
    mark = {"type": "ephemeral"}
    history = [
        Message("user", "Weather in Oslo?", cache_control=mark),
        Message("assistant", "Cold."),
    ]
    rec = await engine.ask(
        "And Bergen?", history=history, system="Be brief.", system_cache_control=mark, model="fast"
    ).collect()
    assert rec.status == "ok" and rec.request_detail["cache_marks"] == 2
    assert any("2 cache_control mark(s) left out: simulator" in w for w in rec.warnings)
    plain = await engine.ask("And Bergen?", history=history[1:], model="fast").collect()
    assert "cache_marks" not in plain.request_detail and not plain.warnings
