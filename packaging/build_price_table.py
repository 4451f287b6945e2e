"""Build resources/model_prices.json from LiteLLM's bundled price table (stdlib only).

Usage::

    python packaging/build_price_table.py path/to/litellm-X.Y.Z-*.whl \
        [--out resources/model_prices.json] [--date YYYY-MM-DD]

The wheel's ``litellm/model_prices_and_context_window_backup.json`` is filtered to the
chat and embedding models of the providers Centwise speaks to (OpenAI, Anthropic,
Google AI Studio "gemini", Ollama) and written back in the same LiteLLM format. Every
number is written with the exact text it had in the source file: nothing goes through
a float. A ``_centwise_source`` entry records where the table came from.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["RawNumber", "build", "dumps", "main", "select"]

MEMBER = "litellm/model_prices_and_context_window_backup.json"
PROVIDERS = frozenset({"openai", "anthropic", "gemini", "ollama"})
MODES = frozenset({"chat", "embedding"})
PRICE_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
    "cache_creation_input_token_cost_above_1hr",
)
OTHER_FIELDS = (
    "max_input_tokens",
    "max_output_tokens",
    "max_tokens",
    "litellm_provider",
    "mode",
    "prompt_cache_min_tokens",
)
#: What a model can do, for routing a request past a tier that cannot serve it.
CAPABILITY_FIELDS = (
    "supports_function_calling",
    "supports_vision",
    "supports_response_schema",
    "supports_tool_choice",
)
# Long-context tiers (e.g. input_cost_per_token_above_200k_tokens) are kept for later use;
# batch/flex/priority variants are not, since Centwise never uses those service tiers.
TIER_FIELD = re.compile(
    r"^(?:" + "|".join(PRICE_FIELDS) + r")_above_\d+k_tokens$",
)
REPO = Path(__file__).resolve().parent.parent


class RawNumber(Decimal):
    """A JSON number that remembers the exact text it was written with."""

    text: str

    def __new__(cls, text: str) -> RawNumber:
        obj = super().__new__(cls, text)
        obj.text = text
        return obj


def _load_member(wheel: Path) -> tuple[dict[str, Any], str]:
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(MEMBER)
        version = _wheel_version(zf)
    data = json.loads(raw.decode("utf-8"), parse_float=RawNumber, parse_int=RawNumber)
    if not isinstance(data, dict):
        raise SystemExit(f"{wheel}: {MEMBER} is not a JSON object")
    return data, version


def _wheel_version(zf: zipfile.ZipFile) -> str:
    for name in zf.namelist():
        if name.endswith(".dist-info/METADATA"):
            for line in zf.read(name).decode("utf-8").splitlines():
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    return "unknown"


def select(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The kept entries, each reduced to the fields Centwise reads, in source order."""
    out: dict[str, dict[str, Any]] = {}
    for key, entry in data.items():
        if key == "sample_spec" or not isinstance(entry, dict):
            continue
        if entry.get("litellm_provider") not in PROVIDERS or entry.get("mode") not in MODES:
            continue
        if "input_cost_per_token" not in entry:
            continue  # e.g. "openai/container": billed per session, not per token
        kept = {
            f: v
            for f, v in entry.items()
            if f in PRICE_FIELDS
            or f in OTHER_FIELDS
            or (f in CAPABILITY_FIELDS and isinstance(v, bool))
            or TIER_FIELD.match(f)
        }
        count = kept.get("prompt_cache_min_tokens")
        if isinstance(count, RawNumber) and count == count.to_integral_value():
            kept["prompt_cache_min_tokens"] = RawNumber(str(int(count)))  # "4096.0" → 4096
        out[key] = dict(sorted(kept.items()))
    return out


def build(wheel: Path, date: str) -> dict[str, Any]:
    """The whole output document for ``wheel``, metadata first."""
    data, version = _load_member(wheel)
    models = select(data)
    meta = {
        "source": f"litellm {version} wheel, {MEMBER}",
        "wheel": wheel.name,
        "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "built": date,
        "models": len(models),
    }
    return {"_centwise_source": meta, **dict(sorted(models.items()))}


def dumps(value: Any, indent: int = 0) -> str:
    """JSON text with numbers written exactly as they were read (4-space indent)."""
    if isinstance(value, RawNumber):
        return value.text
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        raise TypeError(f"refusing to re-format number {value!r}: its source text is unknown")
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 4)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return (
            "[\n"
            + ",\n".join(pad + dumps(v, indent + 4) for v in value)
            + "\n"
            + " " * indent
            + "]"
        )
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="a litellm-*.whl file")
    parser.add_argument("--out", type=Path, default=REPO / "resources" / "model_prices.json")
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="build date")
    args = parser.parse_args(argv)
    doc = build(args.wheel, args.date)
    text = dumps(doc) + "\n"
    json.loads(text)  # the output must be valid JSON
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    print(f"wrote {args.out}: {doc['_centwise_source']['models']} models", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
