"""What the History detail says about a request's provider prompt cache.

From the record's ``prompt_cache`` detail (empty for a provider without a prompt cache,
such as Ollama, and for an answer from the semantic cache; the Simulator caches as the
vendor of the model it stands in for): the marks sent (Anthropic) or the
``prompt_cache_key`` (OpenAI), the cached tokens expected against those reported, the
tokens written (and the one-hour part), what caching saved and, when the cache broke,
why, where the prefix first differed from the previous request's (a two-line
"was:"/"now:" excerpt), that request's id and what the break cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.widgets.formatting import fmt_tokens, fmt_usd
from core.types import RequestRecord

__all__ = ["prompt_cache_lines"]

_INDENT = "    "
_RULES = {"marks": "marked prefixes", "automatic": "automatic prefixes"}
#: How line breaks and tabs in an excerpt read, so each side stays on one line.
_VISIBLE = str.maketrans({"\n": "⏎", "\r": "␍", "\t": "⇥"})


def _marks(marks: Mapping[str, Any]) -> str:
    client = [str(m) for m in marks.get("client") or []]
    auto = [str(m) for m in marks.get("auto") or []]
    if client:
        sent = "as the client sent them: " + ", ".join(client)
    elif auto:
        sent = "automatic: " + ", ".join(auto)
    else:
        sent = "none"
    ttl = f" · TTL {marks['ttl']}" if marks.get("ttl") and (client or auto) else ""
    return f"Marks sent: {sent}{ttl}"


def _excerpt(text: object) -> str:
    shown = str(text or "").translate(_VISIBLE)
    return shown if shown else "(nothing: the block is gone)"


def _break(rec: RequestRecord, detail: Mapping[str, Any], found: Mapping[str, Any]) -> list[str]:
    cause = found.get("cause", "?")
    lines = [f"Break: {found.get('why') or cause} ({cause})"]
    where = detail.get("divergence")
    if isinstance(where, Mapping):
        lines.append(
            f"Where: {where.get('part')}[{where.get('index')}] at character {where.get('offset')}"
        )
        lines.append(f"{_INDENT}was: {_excerpt(where.get('before'))}")
        lines.append(f"{_INDENT}now: {_excerpt(where.get('after'))}")
    if detail.get("previous_request_id"):
        lines.append(f"Previous request: {detail['previous_request_id']}")
    lost_tokens = int(found.get("lost_tokens") or 0)
    lines.append(
        f"Lost: {fmt_usd(rec.prompt_cache_lost_usd)}"
        f" ({fmt_tokens(lost_tokens)} cached tokens not read)"
    )
    return lines


def _quiet(rec: RequestRecord, detail: Mapping[str, Any]) -> bool:
    """Nothing to say: no marks or key sent, nothing expected, read or written, no
    break (a prompt under the provider's minimum, say)."""
    marks = detail.get("marks") if isinstance(detail.get("marks"), Mapping) else {}
    return not (
        marks.get("auto")
        or marks.get("client")
        or detail.get("prompt_cache_key")
        or detail.get("expected_cached_tokens")
        or rec.usage.cached_input_tokens
        or rec.usage.cache_write_tokens
        or detail.get("break")
        or rec.prompt_cache_saved_usd
        or rec.prompt_cache_lost_usd
    )


def prompt_cache_lines(rec: RequestRecord) -> list[str]:
    """The "Provider cache" section of the detail pane; empty when the request went to
    no prompt cache, or to one that had nothing to do with it (the record's JSON beside
    the pane still has its figures)."""
    detail = rec.prompt_cache if isinstance(rec.prompt_cache, Mapping) else {}
    if not detail or _quiet(rec, detail):
        return []
    kind = detail.get("provider_kind") or rec.provider or "?"
    if rec.simulated:
        kind = f"{kind}, emulated by the Simulator"
    rule = _RULES.get(str(detail.get("rule")), str(detail.get("rule", "?")))
    body = []
    if isinstance(detail.get("marks"), Mapping):
        body.append(_marks(detail["marks"]))
    if detail.get("prompt_cache_key"):
        body.append(f"prompt_cache_key: {detail['prompt_cache_key']}")
    body.append(
        f"Cached tokens: expected {fmt_tokens(int(detail.get('expected_cached_tokens') or 0))}"
        f" · reported {fmt_tokens(rec.usage.cached_input_tokens)}"
    )
    written = f"Written to the cache: {fmt_tokens(rec.usage.cache_write_tokens)} tokens"
    if rec.usage.cache_write_1h_tokens:
        written += f" ({fmt_tokens(rec.usage.cache_write_1h_tokens)} of them for 1 hour)"
    body.append(written)
    saved = f"Saved by provider caching: {fmt_usd(rec.prompt_cache_saved_usd)}"
    if rec.prompt_cache_saved_usd < 0:
        saved += " (write premium, not yet read)"
    body.append(saved)
    found = detail.get("break")
    if isinstance(found, Mapping):
        body.extend(_break(rec, detail, found))
    return [f"Provider cache ({kind}, {rule})", *(_INDENT + line for line in body)]
