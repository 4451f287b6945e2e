"""Exact per-token prices and what a request cost.

Price files use LiteLLM's ``model_prices_and_context_window.json`` format: one object
per model key with fields such as ``input_cost_per_token``. Prices are read straight
into :class:`~decimal.Decimal` and every sum stays exact. A model with no price is
*unknown* (``None``), never free; a model whose prices are explicitly 0 is free.

Keys named ``sample_spec`` or starting with ``_`` (e.g. ``_centwise_source``, the
bundled table's provenance) are metadata, not models.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.resources import resource_path
from core.types import Usage

__all__ = [
    "BUNDLED_FILE",
    "ModelPrice",
    "PriceDiff",
    "PriceTable",
    "cost_of",
    "diff_tables",
    "import_price_file",
    "worst_case_cost",
]

BUNDLED_FILE = "model_prices.json"
PRICE_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
    "cache_creation_input_token_cost_above_1hr",
)
#: ``prompt_cache_min_tokens``: the shortest prefix the provider caches for the model.
INT_FIELDS = ("max_input_tokens", "max_output_tokens", "max_tokens", "prompt_cache_min_tokens")
STR_FIELDS = ("litellm_provider", "mode")
#: What the model can do (LiteLLM's flags); routing skips a tier that cannot serve a request.
CAPABILITY_FIELDS = ("supports_function_calling", "supports_vision", "supports_response_schema")
OVERRIDE_FIELDS = frozenset(PRICE_FIELDS + INT_FIELDS + STR_FIELDS + CAPABILITY_FIELDS)
# Prefixes naming the vendor itself, whose prices equal the un-prefixed entry's.
_SAME_VENDOR_PREFIXES = ("openai/", "anthropic/")

Value = Decimal | int | str | None
Entry = dict[str, Decimal | int | str]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices in dollars per token; ``None`` where the table says nothing."""

    model: str
    provider: str | None
    input_cost_per_token: Decimal | None
    output_cost_per_token: Decimal | None
    cache_read_input_token_cost: Decimal | None
    cache_creation_input_token_cost: Decimal | None
    output_cost_per_reasoning_token: Decimal | None
    max_input_tokens: int | None
    max_output_tokens: int | None
    #: What the model can do, from the table (None: the table does not say).
    supports_function_calling: bool | None = None
    supports_vision: bool | None = None
    supports_response_schema: bool | None = None
    #: A cache write to Anthropic's one-hour cache (None: the table does not say; it
    #: is then priced at twice the input rate, Anthropic's published multiplier).
    cache_creation_1h_cost: Decimal | None = None
    #: The shortest prefix the provider's prompt cache keeps for this model.
    prompt_cache_min_tokens: int | None = None

    @property
    def write_1h_rate(self) -> Decimal | None:
        """Dollars per token written to a one-hour cache."""
        if self.cache_creation_1h_cost is not None:
            return self.cache_creation_1h_cost
        inp = self.input_cost_per_token
        return None if inp is None else inp * 2

    @property
    def known(self) -> bool:
        """Both the input and the output price are present (0 counts as present)."""
        return self.input_cost_per_token is not None and self.output_cost_per_token is not None


def _price_from_entry(model: str, e: Entry) -> ModelPrice:
    def dec(name: str) -> Decimal | None:
        v = e.get(name)
        return v if isinstance(v, Decimal) else None

    def num(name: str) -> int | None:
        v = e.get(name)
        return v if isinstance(v, int) else None

    def flag(name: str) -> bool | None:
        v = e.get(name)
        return v if isinstance(v, bool) else None

    provider = e.get("litellm_provider")
    max_out = num("max_output_tokens")
    return ModelPrice(
        model=model,
        provider=provider if isinstance(provider, str) else None,
        input_cost_per_token=dec("input_cost_per_token"),
        output_cost_per_token=dec("output_cost_per_token"),
        cache_read_input_token_cost=dec("cache_read_input_token_cost"),
        cache_creation_input_token_cost=dec("cache_creation_input_token_cost"),
        output_cost_per_reasoning_token=dec("output_cost_per_reasoning_token"),
        max_input_tokens=num("max_input_tokens"),
        max_output_tokens=max_out if max_out is not None else num("max_tokens"),
        supports_function_calling=flag("supports_function_calling"),
        supports_vision=flag("supports_vision"),
        supports_response_schema=flag("supports_response_schema"),
        cache_creation_1h_cost=dec("cache_creation_input_token_cost_above_1hr"),
        prompt_cache_min_tokens=num("prompt_cache_min_tokens"),
    )


# -- validation ------------------------------------------------------------------------


def _is_metadata(key: str) -> bool:
    return key == "sample_spec" or key.startswith("_")


def _check_price(value: object, where: str, *, lenient: bool) -> Decimal:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number of dollars per token, got {value!r}")
    if isinstance(value, float) and lenient:
        value = repr(value)
    if isinstance(value, str) and lenient:
        with contextlib.suppress(InvalidOperation):
            value = Decimal(value.strip())
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ConfigError(f"{where}: expected a number of dollars per token, got {value!r}")
    if value < 0:
        raise ConfigError(f"{where}: a price cannot be negative, got {value}")
    return value


def _check_field(name: str, value: object, where: str, *, lenient: bool) -> Decimal | int | str:
    if name in CAPABILITY_FIELDS:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if name in PRICE_FIELDS:
        return _check_price(value, where, lenient=lenient)
    if name in INT_FIELDS:
        if isinstance(value, Decimal) and lenient and value == value.to_integral_value():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}: expected a whole number of tokens >= 0, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {value!r}")
    return value


def _check_entry(model: str, raw: object, source: str, *, strict_keys: bool) -> Entry:
    """The fields Centwise reads from one entry, validated; others are ignored
    (LiteLLM files carry many) unless ``strict_keys`` (config overrides)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: {model!r}: expected an object of prices, got {raw!r}")
    out: Entry = {}
    for name, value in raw.items():
        where = f"{source}: {model!r}: {name}"
        if name not in OVERRIDE_FIELDS:
            if strict_keys:
                known = ", ".join(sorted(OVERRIDE_FIELDS))
                raise ConfigError(f"{where}: unknown price field (known: {known})")
            continue
        if value is None:
            continue  # JSON null: the table does not say
        out[name] = _check_field(name, value, where, lenient=strict_keys)
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _read_json(path: Path) -> object:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: price file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read price file: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (bad byte at offset {e.start})") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError as e:  # JSONDecodeError, or NaN/Infinity
        raise ConfigError(f"{path}: not valid JSON: {e}") from None


def _describe_source(path: Path, meta: object) -> str:
    if isinstance(meta, Mapping) and isinstance(meta.get("source"), str):
        text = str(meta["source"])
        if isinstance(meta.get("built"), str):
            text += f", built {meta['built']}"
        return text
    return str(path)


# -- the table -------------------------------------------------------------------------


_MISSING = object()
_FOUND_LIMIT = 1024


class PriceTable:
    """Model prices by LiteLLM model key; immutable, combine with :meth:`layered` and
    :meth:`with_overrides`. ``source`` says in words where the prices came from."""

    def __init__(self, entries: Mapping[str, Entry], source: str) -> None:
        self._entries: dict[str, Entry] = {k: dict(v) for k, v in entries.items()}
        self.source = source
        # Every request looks its model up (twice when it routes): remember the answers.
        # The table never changes and a ModelPrice is frozen, so they can be shared.
        self._found: dict[tuple[str, str | None], ModelPrice | None] = {}

    @classmethod
    def bundled(cls) -> PriceTable:
        """The table shipped with Centwise (``resources/model_prices.json``)."""
        return cls.load(resource_path(BUNDLED_FILE))

    @classmethod
    def load(cls, path: Path) -> PriceTable:
        """Read and validate a LiteLLM-format price file; ConfigError names what is wrong."""
        path = Path(path)
        data = _read_json(path)
        if not isinstance(data, dict):
            raise ConfigError(
                f"{path}: expected a JSON object of models, got {type(data).__name__}"
            )
        entries = {
            key: _check_entry(key, raw, str(path), strict_keys=False)
            for key, raw in data.items()
            if not _is_metadata(key)
        }
        return cls(entries, _describe_source(path, data.get("_centwise_source")))

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]], source: str) -> PriceTable:
        """A copy where config ``[prices."MODEL"]`` fields (LiteLLM names) win; fields an
        override leaves out keep the value of the entry :meth:`lookup` finds for MODEL."""
        merged = {k: dict(v) for k, v in self._entries.items()}
        for model, raw in overrides.items():
            checked = _check_entry(model, raw, f"{source}: prices", strict_keys=True)
            merged[model] = {**self._base_entry(model), **checked}
        if not overrides:
            return PriceTable(merged, self.source)
        return PriceTable(merged, f"{self.source}; overrides from {source}")

    def _base_entry(self, model: str) -> Entry:
        # [prices."gemini-2.5-pro"] overrides the fields of "gemini/gemini-2.5-pro".
        for key in self._candidates(model, None):
            if key in self._entries:
                return dict(self._entries[key])
        return {}

    def layered(self, newer: PriceTable) -> PriceTable:
        """A table where every model in ``newer`` replaces this table's entry."""
        return PriceTable({**self._entries, **newer._entries}, f"{newer.source} over {self.source}")

    def lookup(self, model: str, provider_kind: str | None = None) -> ModelPrice | None:
        """The price of ``model``; None when no key matches (dated variants are not guessed).

        Tries the exact key, then ``<provider_kind>/<model>`` (``gemini/gemini-2.5-pro``,
        ``ollama/llama3``), then the key without an ``openai/`` or ``anthropic/`` prefix,
        then ``gemini/<model>`` for Gemini and Gemma models.
        """
        found = self._found.get((model, provider_kind), _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        price = None
        for key in self._candidates(model.strip(), provider_kind):
            entry = self._entries.get(key)
            if entry is not None:
                price = _price_from_entry(key, entry)
                break
        if len(self._found) >= _FOUND_LIMIT:  # names come from requests: stay bounded
            self._found.clear()
        self._found[(model, provider_kind)] = price
        return price

    @staticmethod
    def _candidates(model: str, provider_kind: str | None) -> list[str]:
        keys = [model]
        if provider_kind and "/" not in model:
            keys.append(f"{provider_kind}/{model}")
        for prefix in _SAME_VENDOR_PREFIXES:
            if model.startswith(prefix):
                keys.append(model.removeprefix(prefix))
        if model.startswith(("gemini-", "gemma-")):
            keys.append(f"gemini/{model}")
        return list(dict.fromkeys(keys))

    def models(self) -> list[str]:
        """Every model key, sorted; metadata entries are not models."""
        return sorted(self._entries)

    def entry(self, model: str) -> Mapping[str, Decimal | int | str] | None:
        """The validated fields stored under exactly ``model`` (for diffs and display)."""
        e = self._entries.get(model)
        return dict(e) if e is not None else None

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"PriceTable({len(self)} models from {self.source})"


# -- cost ------------------------------------------------------------------------------


def cost_of(usage: Usage, price: ModelPrice) -> Decimal | None:
    """Exact dollars for ``usage`` (see core.types for what each count includes).

    Cached reads and cache writes are priced at their own rates (the input rate when the
    table has none; a one-hour write at its own rate, else twice the input rate, as
    Anthropic publishes it); reasoning tokens, which are part of the output, are priced apart only
    when the table gives them a different rate. None when the price is unknown.
    """
    inp, out = price.input_cost_per_token, price.output_cost_per_token
    if inp is None or out is None:
        return None
    cached, written = usage.cached_input_tokens, usage.cache_write_tokens
    written_1h = usage.cache_write_1h_tokens
    uncached = usage.input_tokens - cached - written
    if (
        min(uncached, cached, written, written - written_1h, written_1h) < 0
        or min(usage.output_tokens, usage.reasoning_tokens) < 0
    ):
        raise ValueError(f"inconsistent usage (cached/cache-write exceed input?): {usage}")
    if usage.reasoning_tokens > usage.output_tokens:
        raise ValueError(f"inconsistent usage (reasoning exceeds output): {usage}")
    read_rate = price.cache_read_input_token_cost
    write_rate = price.cache_creation_input_token_cost
    total = (
        uncached * inp
        + cached * (inp if read_rate is None else read_rate)
        + (written - written_1h) * (inp if write_rate is None else write_rate)
    )
    if written_1h:
        total += written_1h * (price.write_1h_rate or inp)
    reasoning_rate = price.output_cost_per_reasoning_token
    if reasoning_rate is not None and reasoning_rate != out:
        plain = usage.output_tokens - usage.reasoning_tokens
        return total + plain * out + usage.reasoning_tokens * reasoning_rate
    return total + usage.output_tokens * out


def worst_case_cost(input_tokens: int, max_output_tokens: int, price: ModelPrice) -> Decimal | None:
    """The most a request can cost: uncached input and every allowed output token at the
    dearest output rate. None when the price is unknown."""
    inp, out = price.input_cost_per_token, price.output_cost_per_token
    if inp is None or out is None:
        return None
    rates = [out]
    if price.output_cost_per_reasoning_token is not None:
        rates.append(price.output_cost_per_reasoning_token)
    return input_tokens * inp + max_output_tokens * max(rates)


# -- diff and import -------------------------------------------------------------------


@dataclass
class PriceDiff:
    """What changes between two price tables, model by model and field by field."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, dict[str, tuple[Value, Value]]] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """Human-readable lines, e.g. ``~ gpt-4.1: input_cost_per_token 0.000002 → 0.0000025``."""
        lines = [f"+ {m}" for m in self.added] + [f"- {m}" for m in self.removed]
        for model, changes in self.changed.items():
            parts = [f"{f} {_show(old)} → {_show(new)}" for f, (old, new) in changes.items()]
            lines.append(f"~ {model}: " + "; ".join(parts))
        return lines or ["no changes"]


def _show(value: Value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


_DIFF_FIELDS = tuple(f.name for f in fields(ModelPrice) if f.name != "model")


def diff_tables(old: PriceTable, new: PriceTable) -> PriceDiff:
    """Models added and removed, and changed fields of the models in both."""
    old_keys, new_keys = set(old.models()), set(new.models())
    diff = PriceDiff(added=sorted(new_keys - old_keys), removed=sorted(old_keys - new_keys))
    for model in sorted(old_keys & new_keys):
        a, b = old.lookup(model), new.lookup(model)
        assert a is not None and b is not None
        changes: dict[str, tuple[Value, Value]] = {}
        for name in _DIFF_FIELDS:
            va, vb = getattr(a, name), getattr(b, name)
            if va != vb:
                changes[name] = (va, vb)
        if changes:
            diff.changed[model] = changes
    return diff


def import_price_file(src: Path, dest: Path, current: PriceTable) -> PriceDiff:
    """Validate ``src`` fully, then atomically copy it to ``dest``; ``dest`` is untouched
    when ``src`` is invalid. Returns what ``src`` changes compared with ``current``
    (``removed`` lists models of ``current`` that ``src`` lacks)."""
    src, dest = Path(src), Path(dest)
    new = PriceTable.load(src)
    data = src.read_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return diff_tables(current, new)
