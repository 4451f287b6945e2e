"""What a prompt pins down, read with rules: numbers, names, quotes, code, negation...

:func:`extract` turns one prompt into :class:`Features`; :mod:`core.cache.guard`
compares the features of two prompts. Extraction is deterministic and cached, so the
cache can compare one query against several candidates cheaply.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from core.cache import lexicon as lx
from core.cache.cues import ROLE_MARKERS, negation, question, roles

__all__ = ["Features", "extract", "stem"]

_PUNCT_MAP = str.maketrans(
    {
        **dict.fromkeys("’‘‛", "'"),
        **dict.fromkeys("“”„«»", '"'),
        **dict.fromkeys("–—", "-"),
        **dict.fromkeys("→⇒", " -> "),
    }
)
_CODE_BLOCK = re.compile(r"```.*?```", re.S)
_BACKTICK = re.compile(r"`([^`\n]+)`")
_QUOTED = re.compile(r"\"([^\"\n]{1,300})\"|(?<![\w'])'([^'\n]{1,300}?)'(?![\w])")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_SLASH_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b")
_VERSION = re.compile(r"\bv?\d+(?:\.\d+){2,}\b")
_IDENTIFIERS = (
    re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b"),  # snake_case, JAVA_HOME
    re.compile(r"\b[a-z]+(?:[A-Z][a-z0-9]*)+\b"),  # camelCase
    re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b"),  # PascalCase with two humps
    re.compile(r"\b[A-Za-z_]\w+(?:\.[A-Za-z_]\w+)+(?:\(\))?"),  # dotted.names
    re.compile(r"\b[A-Za-z_]\w*\(\)"),  # call()
    re.compile(r"(?<![\w-])--[A-Za-z][\w-]*"),  # --flags
    re.compile(r"(?:~|\.{1,2})?/[\w.-]+(?:/[\w.-]+)+"),  # paths
)
_CONTRACTIONS = (
    (re.compile(r"\b(ca)n'?t\b|\bcannot\b", re.I), "can not"),
    (re.compile(r"\bwon'?t\b", re.I), "will not"),
    (re.compile(r"\bshan't\b", re.I), "shall not"),
    (re.compile(r"\bain't\b", re.I), "is not"),
    (re.compile(r"\b(\w+)n't\b", re.I), r"\1 not"),
    (
        re.compile(r"\b(do|does|did|is|are|was|were|has|have|had|could|should|would)nt\b", re.I),
        r"\1 not",
    ),
    (re.compile(r"\b(what|where|who|how|when|why|that|there)s\b", re.I), r"\1 is"),
    (re.compile(r"'re\b", re.I), " are"),
    (re.compile(r"'ve\b", re.I), " have"),
    (re.compile(r"'ll\b", re.I), " will"),
    (re.compile(r"'m\b", re.I), " am"),
    (re.compile(r"'d\b", re.I), " would"),
    (re.compile(r"'s\b", re.I), ""),
)
_TOKEN = re.compile(
    r"(?P<num>\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<suf>[A-Za-z%°]+)?"
    r"|(?P<word>[^\W\d_]+(?:\d+[^\W\d_]*)*)"
    r"|(?P<sym>->|=>|[$€£¥₹%])"
    r"|(?P<stop>[.!?;:\n]|(?<=\s)-(?=\s))"
    r"|(?P<punct>[,()\[\]{}\"'])"
)
_PARTICLES = lx.words("in out on off up down")
_PHRASAL_VERBS = lx.words("zoom log sign check opt scale turn switch plug power")
_PREPOSITIONS = lx.words(
    "by with in on at for of via about using through between during within near"
)
_TIME_UNITS = lx.words("sec minute hour day week month year decade century")


@dataclass(frozen=True, slots=True)
class Features:
    """Everything the guard compares, for one prompt."""

    text: str  # casefolded, whitespace collapsed, quotes straightened
    raw: str  # NFKC text with straight quotes, whitespace collapsed (case kept)
    words: frozenset[str]  # lowercase words, their stems and phrasal verbs ("log_in")
    stems: frozenset[str]  # stems of words that are not stopwords
    numbers: tuple[str, ...]  # numbers in order, canonical ("1000", "0.5")
    weak_ones: int  # "one" standing alone: maybe a number, maybe a pronoun
    dates: frozenset[str]
    units: frozenset[str]
    entities: frozenset[str]
    quoted: tuple[str, ...]
    identifiers: frozenset[str]
    literals: tuple[str, ...]  # `backticked` text and code blocks, exact
    negation: frozenset[str]
    roles: tuple[tuple[str, frozenset[str]], ...]
    question: str | None


@dataclass(slots=True)
class _Tok:
    kind: str  # num, word, sym, stop, punct
    text: str
    starts_sentence: bool = False
    suffix: str = ""


def stem(word: str) -> str:
    """A crude, consistent stem: ``closing``/``closes``/``close`` -> ``clos``."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 4 and w.endswith(("sses", "shes", "ches", "xes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix):
            w = w[: -len(suffix)]
            if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "aeiouls":
                w = w[:-1]
            break
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _canon_number(text: str, scale: int = 1) -> str | None:
    try:
        value = Decimal(text.replace(",", "")) * scale
    except InvalidOperation:
        return None
    out = format(value.normalize(), "f")
    return out


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    boundary = True
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup if m.lastgroup != "suf" else "num"
        kind = "num" if m.group("num") else kind
        assert kind is not None
        if kind == "stop":
            boundary = True
            toks.append(_Tok("stop", m.group()))
            continue
        if kind == "punct":
            toks.append(_Tok("punct", m.group()))
            continue
        tok = _Tok(kind, m.group("num") or m.group(), boundary, (m.group("suf") or "").lower())
        toks.append(tok)
        if kind == "word" and tok.text.lower() in lx.FILLERS and boundary:
            continue  # "Hi! Please tell me..." - the sentence starts after the filler
        boundary = False
    return toks


def _lift(text: str) -> tuple[str, set[str], set[str], list[str], set[str]]:
    """Take out what the tokenizer would break: code, quotes, dates, versions."""
    literals = [_collapse(m.group()) for m in _CODE_BLOCK.finditer(text)]
    text = _CODE_BLOCK.sub(" . ", text)
    literals += [_collapse(m.group(1)) for m in _BACKTICK.finditer(text)]
    quoted = {_collapse(m.group(1) or m.group(2)).casefold() for m in _QUOTED.finditer(text)}
    idents = {m.group().casefold() for rx in _IDENTIFIERS for m in rx.finditer(text)}
    idents = {i for i in idents if not re.fullmatch(r"[a-z]\.[a-z](?:\.[a-z])*\.?", i)}
    dates: set[str] = set()
    for m in _ISO_DATE.finditer(text):
        dates.add("-".join(str(int(g)) for g in m.groups()))
    dates |= {m.group() for m in _SLASH_DATE.finditer(text)}
    dates |= {"t" + m.group() for m in _CLOCK.finditer(text)}
    dates |= {"v" + m.group().lstrip("v") for m in _VERSION.finditer(text)}
    for rx in (_ISO_DATE, _SLASH_DATE, _CLOCK, _VERSION):
        text = rx.sub(" ", text)
    return text, quoted, idents, literals, dates


def _word_number(words: list[str], i: int) -> tuple[int, int] | None:
    """A written number starting at ``words[i]``: (value, words used) or None."""
    total, current, j = 0, 0, i
    used_any = False
    while j < len(words):
        w = words[j]
        if w in lx.NUMBER_WORDS:
            current += lx.NUMBER_WORDS[w]
        elif w in lx.NUMBER_SCALES and (used_any or (j > 0 and words[j - 1] in ("a", "an"))):
            current = max(current, 1) * lx.NUMBER_SCALES[w]
            if lx.NUMBER_SCALES[w] >= 1000:
                total, current = total + current, 0
        elif w == "and" and used_any and j + 1 < len(words) and words[j + 1] in lx.NUMBER_WORDS:
            pass
        else:
            break
        used_any = True
        j += 1
    return (total + current, j - i) if used_any else None


@dataclass(slots=True)
class _Quantities:
    numbers: list[str]
    weak_ones: int
    units: set[str]
    dates: set[str]
    roles_items: list[tuple[str, str]]  # ("c", key) content, ("m", marker), ("b", "")


def _unit(word: str, *, after_number: bool = False) -> str | None:
    """The canonical unit a word names (plurals too); ambiguous ones only after a number."""
    w = word.lower()
    tables = (lx.UNITS, lx.AMBIGUOUS_UNITS, lx.CURRENCY_SYMBOLS) if after_number else (lx.UNITS,)
    for form in (w, w[:-1] if w.endswith("s") else w, w[:-2] if w.endswith("es") else w):
        for table in tables:
            if form in table:
                return table[form]
    return None


def _unit_after(tok: _Tok | None) -> str | None:
    if tok is None or tok.kind != "word":
        return None
    return _unit(tok.text, after_number=True)


def _number_token(tok: _Tok, nxt: _Tok | None, q: _Quantities) -> bool:
    """Record a digit token; True when it consumed the following word as a unit."""
    scale = 1000 if tok.suffix == "k" else 1
    if nxt is not None and nxt.kind == "word" and nxt.text.lower() in lx.NUMBER_SCALES:
        scale = lx.NUMBER_SCALES[nxt.text.lower()]
    value = _canon_number(tok.text, scale)
    if value is not None:
        q.numbers.append(value)
        q.roles_items.append(("c", value))
    suffix = tok.suffix
    if suffix and suffix not in ("st", "nd", "rd", "th", "k"):
        q.units.add(_unit(suffix, after_number=True) or suffix)
    unit = _unit_after(nxt)
    if unit is not None and unit != "k":
        q.units.add(unit)
        q.roles_items.append(("c", unit))
        return True
    return False


def _quantities(toks: list[_Tok]) -> _Quantities:
    q = _Quantities([], 0, set(), set(), [])
    words = [t.text.lower() if t.kind == "word" else "" for t in toks]
    i = 0
    while i < len(toks):
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if tok.kind == "num":
            i += 2 if _number_token(tok, nxt, q) else 1
            continue
        if tok.kind in ("stop", "punct"):
            q.roles_items.append(("b", ""))
        elif tok.kind == "sym":
            if tok.text in ROLE_MARKERS:
                q.roles_items.append(("m", tok.text))
            else:
                q.units.add(lx.CURRENCY_SYMBOLS[tok.text])
        else:
            i += _word_token(words, i, toks, q)
            continue
        i += 1
    return q


def _word_token(words: list[str], i: int, toks: list[_Tok], q: _Quantities) -> int:
    w = words[i]
    written = _word_number(words, i) if w != "a" else None
    if written is not None:
        value, used = written
        if w == "one" and used == 1:
            q.weak_ones += 1
        else:
            q.numbers.append(str(value))
            q.roles_items.append(("c", str(value)))
        nxt = toks[i + used] if i + used < len(toks) else None
        unit = _unit_after(nxt)
        weak = w == "one" and used == 1
        if unit is not None and unit != "k" and not (weak and unit in _TIME_UNITS):
            q.units.add(unit)
            q.roles_items.append(("c", unit))
            return used + 1
        return used
    if w == "half":
        q.numbers.append("0.5")
    unit = _unit(w)
    if unit is not None and unit not in _TIME_UNITS:
        q.units.add(unit)
    original = toks[i].text
    month = lx.MONTHS.get(w)
    near_number = any(t.kind == "num" for t in toks[max(0, i - 1) : i + 2])
    if month and (original[0].isupper() or near_number):
        q.dates.add("month:" + month)
    if w in lx.WEEKDAYS:
        q.dates.add("weekday:" + lx.WEEKDAYS[w])
    if w in ROLE_MARKERS:
        q.roles_items.append(("m", w))
    elif w in _PREPOSITIONS:  # a preposition ends the phrase a direction marker governs
        q.roles_items.append(("b", ""))
    elif w not in lx.STOPWORDS:
        q.roles_items.append(("c", unit or stem(w)))
    return 1


def _is_entity(tok: _Tok, shouting: bool) -> bool:
    word = tok.text
    low = word.lower()
    if low in lx.STOPWORDS or low in lx.FILLERS or low in lx.UNITS or low in lx.NUMBER_WORDS:
        return False
    if low in lx.MONTHS or low in lx.WEEKDAYS or word == "I":
        return False
    if any(ch.isdigit() for ch in word):
        return True
    if word.isupper() and len(word) >= 2:
        return not shouting
    return word[0].isupper() and not tok.starts_sentence and not shouting


@lru_cache(maxsize=4096)
def extract(text: str) -> Features:
    """Read the features of one prompt (cached: prompts repeat across lookups)."""
    raw = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP)
    body, quoted, idents, literals, dates = _lift(raw)
    for rx, repl in _CONTRACTIONS:
        body = rx.sub(repl, body)
    toks = _tokenize(body)
    word_toks = [t for t in toks if t.kind == "word"]
    lower = [t.text.lower() for t in toks if t.kind == "word"]
    alpha = [t.text for t in word_toks if len(t.text) > 1]
    shouting = bool(alpha) and sum(w.isupper() for w in alpha) > 0.6 * len(alpha)
    q = _quantities(toks)
    pairs = itertools.pairwise(lower)
    phrasal = {f"{a}_{b}" for a, b in pairs if a in _PHRASAL_VERBS and b in _PARTICLES}
    return Features(
        text=_collapse(raw).casefold(),
        raw=_collapse(raw),
        words=frozenset(lower) | {stem(w) for w in lower} | phrasal,
        stems=frozenset(stem(w) for w in lower if w not in lx.STOPWORDS),
        numbers=tuple(q.numbers),
        weak_ones=q.weak_ones,
        dates=frozenset(dates | q.dates),
        units=frozenset(q.units),
        entities=frozenset(t.text.casefold() for t in word_toks if _is_entity(t, shouting)),
        quoted=tuple(sorted(quoted)),
        identifiers=frozenset(idents),
        literals=tuple(literals),
        negation=negation(lower),
        roles=roles(q.roles_items),
        question=question(lower),
    )
