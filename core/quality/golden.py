"""Golden sets: prompts with a reference answer, assertions and a rubric.

One JSON object a line::

    {"id": "capital", "prompt": "What is the capital of France?", "system": null,
     "reference": "Paris is the capital of France.", "rubric": "Names Paris.",
     "assertions": [{"type": "contains", "value": "Paris"},
                    {"type": "not-contains", "value": "Lyon"},
                    {"type": "regex", "value": "\\\\bParis\\\\b"},
                    {"type": "json-schema", "value": {"type": "object", "required": ["a"]}},
                    {"type": "max-tokens", "value": 200}]}

``contains``/``not-contains`` ignore case; ``regex`` is Python syntax, searched;
``json-schema`` checks the answer's JSON (a code fence around it is fine) against a
practical subset of JSON Schema (type, enum, required, properties,
additionalProperties, items, minItems/maxItems, minimum/maximum, minLength/maxLength);
``max-tokens`` bounds the answer's output tokens. Every line is validated before
anything runs, so a bad file costs nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from core.errors import InputError

__all__ = [
    "ASSERTION_TYPES",
    "Assertion",
    "AssertionResult",
    "GoldenItem",
    "check",
    "parse_golden",
    "schema_problem",
]

ASSERTION_TYPES = ("contains", "not-contains", "regex", "json-schema", "max-tokens")
_ITEM_KEYS = {"id", "prompt", "system", "reference", "assertions", "rubric"}


@dataclass(frozen=True, slots=True)
class Assertion:
    type: str
    value: Any


@dataclass(frozen=True, slots=True)
class AssertionResult:
    type: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class GoldenItem:
    id: str
    prompt: str
    system: str | None = None
    reference: str | None = None
    rubric: str | None = None
    assertions: tuple[Assertion, ...] = field(default_factory=tuple)


def parse_golden(text: str, source: str = "golden set") -> list[GoldenItem]:
    """Every item of a JSONL golden set; errors name the line and the key."""
    items: list[GoldenItem] = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            items.append(_item(line, f"{source} line {n}", f"item{len(items) + 1}"))
    if not items:
        raise InputError(f"{source}: no items")
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise InputError(f"{source}: item ids must be unique")
    return items


def _item(line: str, where: str, default_id: str) -> GoldenItem:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise InputError(f'{where}: expected an object like {{"prompt": ...}}')
    unknown = set(obj) - _ITEM_KEYS
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(f'{where}: "prompt" must be a non-empty string')
    for key in ("id", "system", "reference", "rubric"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise InputError(f'{where}: "{key}" must be a string')
    raw = obj.get("assertions") or []
    if not isinstance(raw, list):
        raise InputError(f'{where}: "assertions" must be a list')
    asserts = tuple(_assertion(a, f"{where}: assertions[{i}]") for i, a in enumerate(raw))
    return GoldenItem(
        obj.get("id") or default_id,
        prompt,
        obj.get("system"),
        obj.get("reference"),
        obj.get("rubric"),
        asserts,
    )


def _assertion(raw: Any, where: str) -> Assertion:
    if not isinstance(raw, dict) or set(raw) != {"type", "value"}:
        raise InputError(f'{where}: expected {{"type": ..., "value": ...}}')
    kind, value = raw["type"], raw["value"]
    if kind not in ASSERTION_TYPES:
        raise InputError(f"{where}: type must be one of {', '.join(ASSERTION_TYPES)}")
    if kind in ("contains", "not-contains", "regex") and not isinstance(value, str):
        raise InputError(f"{where}: {kind} needs a string value")
    if kind == "regex":
        try:
            re.compile(value)
        except re.error as e:
            raise InputError(f"{where}: bad regex ({e})") from None
    if kind == "json-schema" and not isinstance(value, dict):
        raise InputError(f"{where}: json-schema needs an object value")
    if kind == "max-tokens" and (isinstance(value, bool) or not isinstance(value, int)):
        raise InputError(f"{where}: max-tokens needs an integer value")
    return Assertion(kind, value)


def check(assertion: Assertion, answer: str, output_tokens: int) -> AssertionResult:
    """Whether ``answer`` (of ``output_tokens`` tokens) satisfies ``assertion``."""
    kind, value = assertion.type, assertion.value
    if kind == "contains":
        return AssertionResult(kind, value.lower() in answer.lower(), value)
    if kind == "not-contains":
        return AssertionResult(kind, value.lower() not in answer.lower(), value)
    if kind == "regex":
        return AssertionResult(kind, re.search(value, answer) is not None, value)
    if kind == "max-tokens":
        return AssertionResult(kind, output_tokens <= value, f"{output_tokens} <= {value}")
    doc = _json_in(answer)
    if doc is _NO_JSON:
        return AssertionResult(kind, False, "the answer holds no JSON")
    problem = schema_problem(doc, value, "$")
    return AssertionResult(kind, problem is None, problem or "matches")


_NO_JSON: Any = object()


def _json_in(answer: str) -> Any:
    text = re.sub(r"^```[a-zA-Z]*\n|\n?```\s*$", "", answer.strip())
    for candidate in (text, *_spans(text)):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return _NO_JSON


def _spans(text: str) -> list[str]:
    out = []
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if start != -1 and end > start:
            out.append(text[start : end + 1])
    return out


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def schema_problem(doc: Any, schema: dict[str, Any], path: str) -> str | None:
    """The first way ``doc`` breaks ``schema`` (the subset above), or None."""
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        ok = any(_is_type(doc, k) for k in kinds)
        if not ok:
            return f"{path}: expected {kind}"
    if "enum" in schema and doc not in schema["enum"]:
        return f"{path}: not one of {schema['enum']}"
    if isinstance(doc, dict):
        return _object_problem(doc, schema, path)
    if isinstance(doc, list):
        return _array_problem(doc, schema, path)
    return _scalar_problem(doc, schema, path)


def _is_type(doc: Any, kind: str) -> bool:
    if isinstance(doc, bool) and kind in ("number", "integer"):
        return False
    return isinstance(doc, _TYPES.get(kind, (object,)))


def _object_problem(doc: dict[str, Any], schema: dict[str, Any], path: str) -> str | None:
    for key in schema.get("required", []):
        if key not in doc:
            return f"{path}: missing {key!r}"
    props: dict[str, Any] = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        extra = sorted(set(doc) - set(props))
        if extra:
            return f"{path}: unexpected {extra[0]!r}"
    for key, sub in props.items():
        if key in doc and isinstance(sub, dict):
            problem = schema_problem(doc[key], sub, f"{path}.{key}")
            if problem:
                return problem
    return None


def _array_problem(doc: list[Any], schema: dict[str, Any], path: str) -> str | None:
    if len(doc) < schema.get("minItems", 0):
        return f"{path}: fewer than {schema['minItems']} items"
    if "maxItems" in schema and len(doc) > schema["maxItems"]:
        return f"{path}: more than {schema['maxItems']} items"
    items = schema.get("items")
    if isinstance(items, dict):
        for i, element in enumerate(doc):
            problem = schema_problem(element, items, f"{path}[{i}]")
            if problem:
                return problem
    return None


def _scalar_problem(doc: Any, schema: dict[str, Any], path: str) -> str | None:
    if isinstance(doc, int | float) and not isinstance(doc, bool):
        if "minimum" in schema and doc < schema["minimum"]:
            return f"{path}: below {schema['minimum']}"
        if "maximum" in schema and doc > schema["maximum"]:
            return f"{path}: above {schema['maximum']}"
    if isinstance(doc, str):
        if len(doc) < schema.get("minLength", 0):
            return f"{path}: shorter than {schema['minLength']}"
        if "maxLength" in schema and len(doc) > schema["maxLength"]:
            return f"{path}: longer than {schema['maxLength']}"
    return None
