"""Golden sets, assertions (with the JSON-schema subset) and judge verdicts."""

from __future__ import annotations

import json

import pytest

from core.errors import InputError
from core.providers.simulated_judge import JUDGE_MARKER, simulated_verdict
from core.quality.golden import Assertion, check, parse_golden
from core.quality.judge import JUDGE_SYSTEM, judge_prompt, parse_verdict
from core.resources import resource_path


def test_the_shipped_example_parses():
    items = parse_golden(resource_path("golden_example.jsonl").read_text("utf-8"))
    assert len(items) >= 8 and len({i.id for i in items}) == len(items)
    kinds = {a.type for i in items for a in i.assertions}
    assert kinds == {"contains", "not-contains", "regex", "json-schema", "max-tokens"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "line 1: not valid JSON"),
        ("[]", "expected an object"),
        ('{"prompt": ""}', '"prompt" must be a non-empty string'),
        ('{"prompt": "x", "surprise": 1}', "unknown key(s) surprise"),
        ('{"prompt": "x", "assertions": [{"type": "maybe", "value": 1}]}', "type must be one of"),
        ('{"prompt": "x", "assertions": [{"type": "regex", "value": "("}]}', "bad regex"),
        ('{"prompt": "x", "assertions": [{"type": "max-tokens", "value": "5"}]}', "integer"),
        ('{"prompt": "x", "assertions": [{"type": "contains"}]}', '{"type": ..., "value": ...}'),
    ],
)
def test_bad_lines_are_refused_with_their_line(line, message):
    with pytest.raises(InputError) as e:
        parse_golden(line, "g.jsonl")
    assert message in str(e.value)


def test_duplicate_ids_and_empty_files_are_refused():
    with pytest.raises(InputError, match="unique"):
        parse_golden('{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n')
    with pytest.raises(InputError, match="no items"):
        parse_golden("\n\n")


def test_text_assertions():
    assert check(Assertion("contains", "paris"), "It is Paris.", 3).passed
    assert not check(Assertion("not-contains", "lyon"), "Not LYON", 2).passed
    assert check(Assertion("regex", r"\b\d{4}\b"), "in 1843", 2).passed
    assert not check(Assertion("max-tokens", 2), "a b c", 3).passed
    assert check(Assertion("max-tokens", 3), "a b c", 3).passed


SCHEMA = {
    "type": "object",
    "required": ["name", "year"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "year": {"type": "integer", "minimum": 1800},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
    },
}


@pytest.mark.parametrize(
    ("answer", "passed", "detail"),
    [
        ('{"name": "Ada", "year": 1843}', True, "matches"),
        ('```json\n{"name": "Ada", "year": 1843, "tags": ["a"]}\n```', True, "matches"),
        ('Sure: {"name": "Ada", "year": 1843} done', True, "matches"),
        ('{"name": "Ada"}', False, "missing 'year'"),
        ('{"name": "Ada", "year": "1843"}', False, "$.year: expected integer"),
        ('{"name": "Ada", "year": true}', False, "expected integer"),
        ('{"name": "Ada", "year": 1700}', False, "below 1800"),
        ('{"name": "Ada", "year": 1843, "x": 1}', False, "unexpected 'x'"),
        ('{"name": "Ada", "year": 1843, "tags": ["c"]}', False, "$.tags[0]: not one of"),
        ("no json here", False, "holds no JSON"),
    ],
)
def test_json_schema_subset(answer, passed, detail):
    result = check(Assertion("json-schema", SCHEMA), answer, 10)
    assert result.passed is passed and detail in result.detail


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"score": 7, "reason": "good"}', (7.0, "good")),
        ('```json\n{"score": 9.5, "reason": "x"}\n```', (9.5, "x")),
        ('Verdict: {"score": 1} ok', (1.0, "")),
        ('{"score": 11, "reason": "x"}', None),
        ('{"score": 0, "reason": "x"}', None),
        ('{"score": "7", "reason": "x"}', None),
        ('{"score": true}', None),
        ('{"reason": "x"}', None),
        ("seven out of ten", None),
        ('{"score": 7, "reason": ', None),
        ('[{"score": 7}]', (7.0, "")),  # the one object inside is taken
    ],
)
def test_parse_verdict(reply, expected):
    assert parse_verdict(reply) == expected


def test_simulated_judge_is_deterministic_and_rewards_coverage_and_detail():
    ref = "Paris is the capital of France."
    short = judge_prompt("Capital of France?", "France.", ref, None)
    good = judge_prompt("Capital of France?", "Paris is the capital of France. " * 12, ref, None)
    off = judge_prompt("Capital of France?", "Bananas are yellow fruit. " * 12, ref, None)
    scores = {k: json.loads(simulated_verdict(m))["score"] for k, m in
              {"short": short, "good": good, "off": off}.items()}  # fmt: skip
    assert scores["good"] == 10 and scores["short"] < scores["good"]
    assert scores["off"] < scores["good"]
    assert simulated_verdict(good) == simulated_verdict(good)
    assert JUDGE_SYSTEM.startswith(JUDGE_MARKER)
