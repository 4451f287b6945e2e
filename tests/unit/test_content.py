"""Request content beyond text: tool definitions, tool choice, call/result pairing,
images, and each provider's published token rule for images."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from core.content.counting import tool_definition_tokens
from core.content.images import (
    ImageInputError,
    anthropic_image_tokens,
    gemini_image_tokens,
    image_from_bytes,
    image_from_data_url,
    image_from_url,
    image_tokens,
    openai_image_tokens,
)
from core.content.tools import (
    ToolDefinitionError,
    ToolResultError,
    check_tool_pairs,
    parse_tool_choice,
    parse_tools,
    tools_key,
)
from core.errors import InputError
from core.types import Message, ToolCall, ToolChoice

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city"],
    },
}


def png(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "blue").save(out, fmt)
    return out.getvalue()


# --- tools ---------------------------------------------------------------------------


def test_tools_in_openai_responses_and_anthropic_shapes_parse_alike() -> None:
    openai = parse_tools([{"type": "function", "function": WEATHER}])
    flat = parse_tools([{"type": "function", **WEATHER, "strict": True}])
    anthropic = parse_tools(
        [{"name": WEATHER["name"], "description": WEATHER["description"],
          "input_schema": WEATHER["parameters"]}]
    )  # fmt: skip
    assert openai[0].name == flat[0].name == anthropic[0].name == "get_weather"
    assert openai[0].parameters == flat[0].parameters == anthropic[0].parameters
    assert flat[0].strict and not openai[0].strict
    assert parse_tools(None) == () and parse_tools([]) == ()


@pytest.mark.parametrize(
    ("tools", "where", "what"),
    [
        ("nope", "tools", "must be a list"),
        ([1], "tools[0]", "must be an object"),
        ([{"type": "web_search"}], "tools[0].type", "only function tools"),
        (
            [{"type": "function", "function": {"name": ""}}],
            "tools[0].function.name",
            "needs a name",
        ),
        ([{"type": "function", "function": {"name": "a b"}}], "tools[0].function.name", "letters"),
        (
            [{"type": "function", "function": {"name": "f", "parameters": {"type": "nope"}}}],
            "tools[0].function.parameters",
            "not a valid JSON Schema",
        ),
        (
            [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}],
            "tools[0].function.parameters",
            "'object'",
        ),
        ([{"name": "f", "input_schema": []}], "tools[0].input_schema", "JSON Schema object"),
        ([{"name": "f"}, {"name": "f"}], "tools[1].name", "defined twice"),
    ],
)
def test_a_malformed_tool_is_refused_naming_the_field(tools: object, where: str, what: str) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        parse_tools(tools)
    assert info.value.where.startswith(where) and what in str(info.value)
    assert isinstance(info.value, InputError)  # the CLI exits 2, the gateway answers 400


def test_tool_choice_in_both_shapes_and_checked_against_the_tools() -> None:
    tools = parse_tools([{"type": "function", "function": WEATHER}])
    assert parse_tool_choice("required", tools) == ToolChoice("required")
    assert parse_tool_choice({"type": "any"}, tools) == ToolChoice("required")
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert parse_tool_choice(named, tools) == ToolChoice("tool", "get_weather")
    assert parse_tool_choice({"type": "tool", "name": "get_weather"}, tools).name == "get_weather"
    assert parse_tool_choice(None, tools) is None
    with pytest.raises(ToolDefinitionError, match="not one of the request's tools"):
        parse_tool_choice({"type": "tool", "name": "other"}, tools)
    with pytest.raises(ToolDefinitionError, match="needs tools"):
        parse_tool_choice("required", ())
    with pytest.raises(ToolDefinitionError, match="must be auto, none, required"):
        parse_tool_choice("sometimes", tools)


def test_every_tool_result_must_answer_an_earlier_call() -> None:
    call = ToolCall("c1", "get_weather", '{"city": "Oslo"}')
    ok = [Message("user", "hi"), Message("assistant", "", tool_calls=(call,)),
          Message("tool", "-3", tool_call_id="c1")]  # fmt: skip
    check_tool_pairs(ok)
    with pytest.raises(ToolResultError, match=r"messages\[3\].*matches no earlier tool call"):
        check_tool_pairs([*ok[:2], Message("tool", "x", tool_call_id="c9")], offset=1)
    with pytest.raises(ToolResultError, match="answered already"):
        check_tool_pairs([*ok, Message("tool", "-3", tool_call_id="c1")])


def test_the_tools_key_covers_definitions_choice_and_flag() -> None:
    a = parse_tools([{"type": "function", "function": WEATHER}])
    other = dict(WEATHER, description="Weather, in another words")
    b = parse_tools([{"type": "function", "function": other}])
    keys = {
        tools_key(a, None, None),
        tools_key(b, None, None),
        tools_key(a, ToolChoice("required"), None),
        tools_key(a, None, False),
    }
    assert len(keys) == 4 and tools_key((), None, None) == ""


def test_tool_definitions_cost_tokens_each_providers_way() -> None:
    tools = parse_tools([{"type": "function", "function": WEATHER}])

    def count(text: str) -> int:
        return len(text.split()) + 1

    openai = tool_definition_tokens(count, tools, None, "gpt-4o", "openai")
    anthropic = tool_definition_tokens(count, tools, None, "claude-haiku-4-5", "anthropic")
    forced = tool_definition_tokens(count, tools, ToolChoice("required"), "x", "anthropic")
    assert openai > 12 and tool_definition_tokens(count, (), None, "gpt-4o", "openai") == 0
    assert anthropic - forced == 346 - 313  # the published tool-use system prompts


# --- images --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "detail", "model", "tokens"),
    [
        ((1024, 1024), "high", "gpt-4o", 765),  # OpenAI's worked examples
        ((2048, 4096), "high", "gpt-4o", 1105),
        ((4096, 8192), "low", "gpt-4o", 85),
        ((1024, 1024), "high", "gpt-4o-mini", 2833 + 4 * 5667),
        ((1024, 1024), "auto", "gpt-4.1-mini", 1659),  # 1024 patches x 1.62
        ((1800, 2400), "auto", "gpt-4.1-mini", 2353),  # 1452 patches x 1.62
        ((1024, 1024), "auto", "gpt-4.1-nano", 2520),  # 1024 patches x 2.46
    ],
)
def test_openai_image_tokens_follow_the_published_rule(
    size: tuple[int, int], detail: str, model: str, tokens: int
) -> None:
    assert openai_image_tokens(*size, detail, model) == tokens


def test_anthropic_and_gemini_image_tokens_follow_their_rules() -> None:
    assert anthropic_image_tokens(1000, 1000) == 1334  # (1000 x 1000) / 750
    assert anthropic_image_tokens(200, 200) == 54
    assert anthropic_image_tokens(1092, 1092) == 1590  # the largest square kept as sent
    assert anthropic_image_tokens(4000, 4000) <= 1608  # shrunk first (951 x 1268 is the most)
    assert gemini_image_tokens(384, 384) == 258
    assert gemini_image_tokens(1024, 1024) == 4 * 258  # 683-pixel crop units, 2 x 2


def test_image_bytes_are_decoded_measured_and_hashed() -> None:
    data = png(640, 480)
    image = image_from_bytes(data, "img")
    assert (image.width, image.height, image.media_type) == (640, 480, "image/png")
    assert (
        image.sha256
        == image_from_bytes(data, "again").sha256
        != image_from_bytes(png(640, 481), "x").sha256
    )
    assert "bytes" in image.describe() and "data" not in image.describe()
    url = "data:image/jpeg;base64," + base64.b64encode(png(10, 10, "JPEG")).decode()
    assert image_from_data_url(url, "u").media_type == "image/jpeg"
    remote = image_from_url("https://example.com/cat.png", "u", detail="low")
    assert remote.data is None and remote.width is None and remote.detail == "low"
    assert image_tokens(remote, "openai", "gpt-4o") == 85
    assert image_tokens(image, "anthropic", "claude-haiku-4-5") == anthropic_image_tokens(640, 480)


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda: image_from_bytes(b"not an image", "messages[1].content[1]"), "cannot be decoded"),
        (lambda: image_from_bytes(b"", "m"), "empty"),
        (lambda: image_from_bytes(png(4, 4), "m", media_type="image/jpeg"), "bytes are image/png"),
        (lambda: image_from_data_url("data:image/png;base64,@@@", "m"), "not valid base64"),
        (lambda: image_from_data_url("data:image/png,abc", "m"), "data URL"),
        (lambda: image_from_url("ftp://x/y.png", "m"), r"http\(s\) or data URL"),
        (lambda: image_from_bytes(png(4, 4), "m", detail="ultra"), "auto, low or high"),
    ],
)
def test_a_bad_image_is_refused_naming_it(make, what: str) -> None:
    with pytest.raises(ImageInputError, match=what):
        make()


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    data = png(1, 1)
    header = bytearray(data)
    # Rewrite the IHDR size to 20000 x 20000 (the CRC no longer matches: either way
    # it must be refused, never decoded into 1.6 GB).
    header[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    with pytest.raises(ImageInputError):
        image_from_bytes(bytes(header), "big.png")
