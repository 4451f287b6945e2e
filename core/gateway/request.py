"""What every API format reduces a request to, and the checks they share.

Each format (:mod:`core.gateway.openai_api`, :mod:`core.gateway.anthropic_api`,
:mod:`core.gateway.responses_api`) reads its body into one :class:`ChatRequest`, the
arguments of :meth:`Engine.ask`. Anything wrong with a body is a
:class:`GatewayHTTPError` (a 400) that names the field, down to the message and part
(``messages[1].content[2].type``), so a client can find it.

A conversation's last turn decides what the engine is asked: a user message is the
prompt (its images go with it); one or more tool results are the turn, answering the
calls in the assistant message before them (:func:`split_turn`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.content.tools import ToolResultError, check_tool_pairs, parse_tool_choice, parse_tools
from core.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetError,
    BudgetExceededError,
    CentwiseError,
    CircuitOpenError,
    ConfigError,
    ConnectionFailedError,
    ContentFilteredError,
    InputError,
    InputTokenLimitError,
    LedgerError,
    MalformedResponseError,
    OverloadedError,
    ProviderTimeoutError,
    RateLimitError,
    StorageUnavailableError,
)
from core.types import (
    NO_SAMPLING,
    ImagePart,
    Message,
    ResponseFormat,
    Sampling,
    SamplingValueError,
    Tool,
    ToolChoice,
    parse_sampling,
)

__all__ = [
    "MAX_JSON_DEPTH",
    "REASONING_EFFORTS",
    "ChatRequest",
    "GatewayHTTPError",
    "bad_request",
    "check_pairs",
    "end_user_from",
    "error_for",
    "input_refused",
    "json_output",
    "metadata_from",
    "positive_int",
    "read_json_object",
    "reasoning_effort_from",
    "sampling_from",
    "split_turn",
    "temperature_from",
    "tools_from",
]

#: Containers nested deeper than this are refused when the body is read: no request
#: needs more (a tool's JSON Schema rarely passes 20), and every later step that walks
#: the body (schema checks, cache keys, provider bodies) can then recurse safely.
MAX_JSON_DEPTH = 100
#: The reasoning efforts OpenAI's APIs define.
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
#: OpenAI's limits on ``metadata``: keys, key length, value length.
_METADATA_LIMITS = (16, 64, 512)


class GatewayHTTPError(Exception):
    """An error the gateway answers with directly: status, OpenAI error type and code,
    and ``param``, the field it is about (``messages[1].content[0].type``) when known."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One request, reduced to what :meth:`Engine.ask` takes (see :func:`split_turn` for
    ``prompt``, ``history``, ``turn`` and ``images``). ``echo`` holds settings a format
    repeats in its reply (the Responses API echoes its request)."""

    model: str
    prompt: str
    system: str | None
    history: tuple[Message, ...]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    temperature: float | None
    sampling: Sampling = NO_SAMPLING
    response_format: ResponseFormat | None = None
    images: tuple[ImagePart, ...] = ()
    turn: tuple[Message, ...] = ()
    #: A client's prompt-cache mark on the system prompt (Anthropic's ``cache_control``).
    system_cache_control: dict[str, object] | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None
    end_user: str | None = None
    metadata: Mapping[str, str] | None = None
    #: The client's own OpenAI ``prompt_cache_key``, sent on as given.
    prompt_cache_key: str | None = None
    echo: Mapping[str, Any] = field(default_factory=dict)


def bad_request(message: str, param: str | None = None) -> GatewayHTTPError:
    """A 400 about ``param`` (the field as the client's API spells it)."""
    top = param.split("[", 1)[0].split(".", 1)[0] if param else None
    return GatewayHTTPError(400, message, code=top and f"invalid_{top}", param=param)


def input_refused(err: InputError) -> GatewayHTTPError:
    """A 400 for a malformed tool, tool result or image found by :mod:`core.content`;
    its message already names where (``tools[2].function.parameters: ...``)."""
    return bad_request(str(err), getattr(err, "where", None))


# -- the body -----------------------------------------------------------------------


def read_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or a 400 that says what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("the request body is not valid JSON") from None
    except RecursionError:
        raise _too_deep() from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    if _depth_over(body, MAX_JSON_DEPTH):
        raise _too_deep()
    return body


def _too_deep() -> GatewayHTTPError:
    return bad_request(
        f"the request body is nested too deeply to be a chat request (over {MAX_JSON_DEPTH}"
        " levels of arrays and objects)"
    )


def _depth_over(value: dict[str, Any], limit: int) -> bool:
    # Iterative, so a deep body cannot exhaust the stack here either.
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


# -- settings -----------------------------------------------------------------------


def positive_int(body: Mapping[str, Any], *names: str) -> int | None:
    """The first of ``names`` that is set, as a positive integer."""
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise bad_request(f"{name} must be a positive integer, got {value!r}", name)
        return value
    return None


def temperature_from(value: Any, name: str = "temperature", high: float = 2) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise bad_request(f"{name} must be a number from 0 to {high:g}, got {value!r}", name)
    return float(value)


def sampling_from(
    top_p: Any, stop: Any, seed: Any, names: tuple[str, str, str], *, max_stops: int = 4
) -> Sampling:
    """Validated sampling settings; ``names`` are the fields as the client's API spells
    them (top_p, stop, seed), so a 400 names the field the client sent."""
    try:
        return parse_sampling(top_p, stop, seed, max_stops=max_stops)
    except SamplingValueError as e:
        name = names[("top_p", "stop", "seed").index(e.setting)]
        raise bad_request(f"{name} {e.message}", name) from None


def json_output(schema: Any, name: Any, strict: Any, where: str) -> ResponseFormat:
    """JSON output that follows ``schema``, named ``name`` (default ``response``)."""
    name = "response" if name is None else name
    strict = False if strict is None else strict
    if not isinstance(schema, dict) or not isinstance(name, str) or not isinstance(strict, bool):
        raise bad_request(
            f"{where} needs a 'schema' object, a 'name' string and an optional 'strict' boolean",
            where,
        )
    return ResponseFormat(schema=schema, name=name, strict=strict)


def reasoning_effort_from(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if value not in REASONING_EFFORTS:
        allowed = ", ".join(REASONING_EFFORTS)
        raise bad_request(f"{name} must be one of {allowed}, got {value!r}", name)
    return str(value)


def end_user_from(value: Any, name: str) -> str | None:
    """An end-user id (``user``, ``safety_identifier``, ``metadata.user_id``), kept in
    the ledger with the request."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 256:
        raise bad_request(f"{name} must be a string of at most 256 characters", name)
    return value


def prompt_cache_key_from(value: Any, name: str = "prompt_cache_key") -> str | None:
    """A client's ``prompt_cache_key``: a string of at most 1,024 characters."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 1024:
        raise bad_request(f"{name} must be a string of at most 1024 characters", name)
    return value


def metadata_from(value: Any, name: str = "metadata") -> dict[str, str] | None:
    """String keys and string values, within OpenAI's limits (16 keys of up to 64
    characters, values up to 512), kept in the ledger with the request."""
    if value is None or value == {}:
        return None
    most, key_len, value_len = _METADATA_LIMITS
    if not isinstance(value, dict) or len(value) > most:
        raise bad_request(f"{name} must be an object of at most {most} string values", name)
    for key, item in value.items():
        if len(key) > key_len:
            raise bad_request(f"{name}: key {key[:80]!r} is over {key_len} characters", name)
        if not isinstance(item, str) or len(item) > value_len:
            raise bad_request(
                f"{name}.{key} must be a string of at most {value_len} characters, got "
                f"{type(item).__name__}",
                f"{name}.{key}",
            )
    return dict(value)


def tools_from(
    items: Any, choice: Any, parallel: Any, *, parallel_name: str = "parallel_tool_calls"
) -> tuple[tuple[Tool, ...], ToolChoice | None, bool | None]:
    """Checked tools (any of the shapes :func:`core.content.tools.parse_tools` reads),
    tool choice and parallel-calls flag."""
    if parallel is not None and not isinstance(parallel, bool):
        raise bad_request(f"{parallel_name} must be true or false", parallel_name)
    try:
        tools = parse_tools(items)
        return tools, parse_tool_choice(choice, tools), parallel
    except InputError as e:
        raise input_refused(e) from None


# -- the conversation ---------------------------------------------------------------


def check_pairs(messages: Sequence[Message], locate: Callable[[int], str]) -> None:
    """Every tool result answers an earlier call. ``locate(i)`` names ``messages[i]``
    as the client numbered it (its API may split or merge messages)."""
    try:
        check_tool_pairs(messages)
    except ToolResultError as e:
        index = int(e.where.removeprefix("messages[").removesuffix("]"))
        where = locate(index)
        problem = str(e).removeprefix(f"{e.where}: ")
        raise bad_request(f"{where}: {problem}", where) from None


def split_turn(
    messages: Sequence[Message], param: str = "messages"
) -> tuple[str, tuple[Message, ...], tuple[Message, ...], tuple[ImagePart, ...]]:
    """``(prompt, history, turn, images)`` for :meth:`Engine.ask`.

    A last user message is the prompt, with its images. Tool results at the end are
    the turn; the history then ends with the calls they answer, and the prompt (for
    routing and the cache) is their text. Anything else cannot be answered.
    """
    if not messages:
        raise bad_request(f"{param}: there is no user message or tool result to answer", param)
    last = messages[-1]
    if last.role == "user" and last.cache_control is not None:  # kept whole, with its mark
        return last.content, tuple(messages[:-1]), (last,), ()
    if last.role == "user":
        return last.content, tuple(messages[:-1]), (), last.images
    if last.role == "tool":
        start = len(messages)
        while start > 0 and messages[start - 1].role == "tool":
            start -= 1
        results = tuple(messages[start:])
        prompt = "\n\n".join(m.content for m in results)
        return prompt, tuple(messages[:start]), results, ()
    raise bad_request(
        f"{param}: the last message must be from the user or a tool result, got {last.role!r}",
        param,
    )


# -- engine errors ------------------------------------------------------------------

#: (status, OpenAI error type) per Centwise error class, most specific first.
_ERROR_MAP: tuple[tuple[type[CentwiseError], int, str], ...] = (
    (BudgetExceededError, 429, "insufficient_quota"),
    (InputTokenLimitError, 400, "invalid_request_error"),
    (BudgetError, 429, "insufficient_quota"),
    (InputError, 400, "invalid_request_error"),
    (ConfigError, 500, "server_error"),
    (StorageUnavailableError, 503, "server_error"),
    (LedgerError, 500, "server_error"),
    (RateLimitError, 429, "rate_limit_error"),
    (CircuitOpenError, 503, "server_error"),
    (OverloadedError, 503, "server_error"),
    (ProviderTimeoutError, 504, "server_error"),
    (AuthenticationError, 502, "upstream_error"),
    (ConnectionFailedError, 502, "upstream_error"),
    (MalformedResponseError, 502, "upstream_error"),
    (ContentFilteredError, 400, "invalid_request_error"),
    (BadRequestError, 400, "invalid_request_error"),
)


def error_for(err: CentwiseError) -> GatewayHTTPError:
    """The HTTP answer for an engine error; a budget refusal is a 429 that says why."""
    param = getattr(err, "where", None)
    for cls, status, type_ in _ERROR_MAP:
        if isinstance(err, cls):
            return GatewayHTTPError(status, str(err), type_, err.kind, param)
    return GatewayHTTPError(502, str(err), "upstream_error", err.kind)
