"""What the gateway does with each request field: honour it, or refuse it by name.

A client that sends ``top_p: 0.2`` or ``response_format: {...}`` expects it to change
the answer. Until the engine carries such a field, dropping it would hand the client
an answer to a request it did not make, so the gateway refuses it with a 400 naming
the field. A field sent at its documented default changes nothing and passes
(``top_p: 1``, ``stop: null``, ``logprobs: false``); ``null`` always passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ANTHROPIC_DEFAULTS", "OPENAI_DEFAULTS", "RESPONSES_DEFAULTS", "refuse_unhonoured"]

#: Chat Completions fields the gateway does not carry yet, with the values that
#: mean "not used" (the API's documented defaults).
OPENAI_DEFAULTS: Mapping[str, tuple[Any, ...]] = {
    "presence_penalty": (0,),
    "frequency_penalty": (0,),
    "logprobs": (False,),
    "top_logprobs": (0,),
    "logit_bias": ({},),
    "functions": ([],),
    "function_call": ("none", "auto"),
    "store": (False,),
    "service_tier": ("auto", "default"),
    "modalities": (["text"],),
    "prediction": (),
    "audio": (),
    "web_search_options": (),
    "verbosity": (),
    "prompt_cache_retention": (),
}

#: The same for Anthropic Messages fields.
ANTHROPIC_DEFAULTS: Mapping[str, tuple[Any, ...]] = {
    "top_k": (),
    "thinking": ({"type": "disabled"},),
    "service_tier": ("auto",),
    "container": (),
    "mcp_servers": ([],),
}

#: The same for Responses API fields. The gateway keeps no responses, so it cannot
#: continue one (``previous_response_id``, ``conversation``) or store one.
RESPONSES_DEFAULTS: Mapping[str, tuple[Any, ...]] = {
    "previous_response_id": (),
    "conversation": (),
    "store": (False,),
    "background": (False,),
    "include": ([],),
    "truncation": ("disabled",),
    "prompt": (),
    "prompt_cache_retention": (),
    "service_tier": ("auto", "default"),
    "top_logprobs": (0,),
    "max_tool_calls": (),
    "context_management": (),
}

#: What to send instead, for fields a client may reach for.
_HINTS: Mapping[str, str] = {
    "functions": "send tools instead (the legacy functions API is not carried)",
    "function_call": "send tool_choice instead (the legacy functions API is not carried)",
    "previous_response_id": (
        "the gateway keeps no responses; send the whole conversation as input items"
    ),
    "conversation": "the gateway keeps no conversations; send the whole conversation as input",
    "store": "the gateway keeps no responses; send store: false",
}


def _same(value: Any, default: Any) -> bool:
    # Strict: True is not 1, 1.0 is 1, and containers compare by content.
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if isinstance(value, int | float) and isinstance(default, int | float):
        return value == default
    return type(value) is type(default) and value == default


def refuse_unhonoured(
    body: Mapping[str, Any],
    honoured: frozenset[str],
    defaults: Mapping[str, tuple[Any, ...]],
    bad: Callable[[str, str], Exception],
) -> None:
    """Raise ``bad(message, field)`` for the first field that would be dropped."""
    for name, value in body.items():
        if name in honoured or value is None:
            continue
        if name not in defaults:
            raise bad(f"{name}: unknown field; the Centwise gateway does not pass it on", name)
        if any(_same(value, d) for d in defaults[name]):
            continue
        if name in _HINTS:
            raise bad(f"{name} is not supported by the Centwise gateway: {_HINTS[name]}", name)
        allowed = " or ".join(repr(d) for d in defaults[name])
        hint = f" (or send {allowed}, which changes nothing)" if allowed else ""
        raise bad(
            f"{name} is not supported by the Centwise gateway yet: remove it{hint}; "
            "it is refused rather than dropped, so no answer ignores it",
            name,
        )
