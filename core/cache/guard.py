"""The hard-negative guard: refuse a cached answer whose prompt asks something else.

Embeddings score "convert 100 USD to EUR" and "convert 100 EUR to USD" at about 0.98,
so a similarity threshold alone serves wrong answers. After the threshold passes, the
cache runs :func:`check` on the (query, cached prompt) pair. It rejects the pair when
the prompts differ in any category that changes the answer:

``number``     digits, written numbers ("two" = "2"), decimals, percentages, dates,
               versions, times; the same numbers in another order
``entity``     proper nouns not at a sentence start, acronyms and ISO codes, units and
               currencies ("km" = "kilometres", "$" = "USD")
``quoted``     text in quotes
``code``       snake_case, camelCase, dotted.names, calls(), --flags, paths, `literals`
``negation``   not / no / never / n't, without, except
``direction``  a word on the source side in one prompt and the target side in the
               other (to/into/from, before/after, than, per)
``question``   a different question word (what/which, who, when, where, why, how,
               how many, how much, ...) or a yes/no question against a wh-question
``opposed``    a pair of opposed terms (open/close, buy/sell, ...), different members of
               a set of alternatives (Python/Java, JSON/YAML, breakfast/lunch), or a
               negating prefix or suffix (install/uninstall, careful/careless)

Everything else may differ: synonyms, word order, politeness, punctuation, case,
contractions. The guard errs towards rejecting: a wrong rejection costs one model
call, a wrong acceptance serves a wrong answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from core.cache import lexicon as lx
from core.cache.features import Features, extract, stem

__all__ = ["CATEGORIES", "GuardVerdict", "check"]

CATEGORIES = ("number", "entity", "quoted", "code", "negation", "direction", "question", "opposed")

_OPPOSITE_ROLES = {("src", "dst"), ("early", "late"), ("more", "less"), ("num", "den")}
_OPPOSED = tuple(
    (frozenset(stem(w) for w in left), frozenset(stem(w) for w in right))
    for left, right in lx.OPPOSED
)
_CONTRAST = tuple({stem(k): v for k, v in s.items()} | s for s in lx.CONTRAST_SETS)


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """``ok`` is True when no category differs; ``reasons`` say what differed."""

    ok: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        """The categories that differed, in :data:`CATEGORIES` order, once each."""
        found = {r.partition(":")[0] for r in self.reasons}
        return [c for c in CATEGORIES if c in found]


def check(a: str, b: str) -> GuardVerdict:
    """Compare two prompts that embed alike; ``ok=False`` when they ask different things."""
    fa, fb = extract(a), extract(b)
    reasons: list[str] = []
    for rule in _RULES:
        reasons.extend(rule(fa, fb))
    return GuardVerdict(ok=not reasons, reasons=reasons)


def _show(items: Iterable[str]) -> str:
    return ", ".join(sorted(items)) or "none"


def _numbers(fa: Features, fb: Features) -> list[str]:
    out = []
    ca, cb = Counter(fa.numbers), Counter(fb.numbers)
    # A lone "one" may be a pronoun ("which one"); it may stand for a 1 or for nothing.
    ones_a, ones_b = ca.pop("1", 0), cb.pop("1", 0)
    ones_ok = ones_a <= ones_b + fb.weak_ones and ones_b <= ones_a + fa.weak_ones
    if ca != cb or not ones_ok:
        out.append(f"number: {_show(fa.numbers)} vs {_show(fb.numbers)}")
    elif [n for n in fa.numbers if n != "1"] != [n for n in fb.numbers if n != "1"]:
        out.append(f"number: same numbers in another order ({', '.join(fa.numbers)})")
    if fa.dates != fb.dates:
        out.append(f"number: dates or versions {_show(fa.dates)} vs {_show(fb.dates)}")
    return out


def _entities(fa: Features, fb: Features) -> list[str]:
    out = []
    missing_b = {e for e in fa.entities if e not in fb.words and stem(e) not in fb.words}
    missing_a = {e for e in fb.entities if e not in fa.words and stem(e) not in fa.words}
    if missing_a or missing_b:
        out.append(f"entity: {_show(missing_b)} vs {_show(missing_a)}")
    if fa.units != fb.units:
        out.append(f"entity: units {_show(fa.units)} vs {_show(fb.units)}")
    return out


def _quoted(fa: Features, fb: Features) -> list[str]:
    only_a = [q for q in fa.quoted if q not in fb.text]
    only_b = [q for q in fb.quoted if q not in fa.text]
    if only_a or only_b:
        return [f"quoted: {_show(only_a)} vs {_show(only_b)}"]
    return []


def _code(fa: Features, fb: Features) -> list[str]:
    only_a = {i for i in fa.identifiers if i not in fb.text}
    only_b = {i for i in fb.identifiers if i not in fa.text}
    only_a |= {lit for lit in fa.literals if lit not in fb.raw}
    only_b |= {lit for lit in fb.literals if lit not in fa.raw}
    if only_a or only_b:
        return [f"code: {_show(only_a)} vs {_show(only_b)}"]
    return []


def _negation(fa: Features, fb: Features) -> list[str]:
    if fa.negation != fb.negation:
        return [f"negation: {_show(fa.negation)} vs {_show(fb.negation)}"]
    return []


def _direction(fa: Features, fb: Features) -> list[str]:
    roles_b = dict(fb.roles)
    out = []
    for key, ra in fa.roles:
        rb = roles_b.get(key)
        if rb is None:
            continue
        (one,), (other,) = ra, rb
        if (one, other) in _OPPOSITE_ROLES or (other, one) in _OPPOSITE_ROLES:
            out.append(f"direction: {key!r} is {one} in one prompt and {other} in the other")
    return out


def _question(fa: Features, fb: Features) -> list[str]:
    if fa.question and fb.question and fa.question != fb.question:
        return [f"question: {fa.question!r} vs {fb.question!r}"]
    return []


def _opposed(fa: Features, fb: Features) -> list[str]:
    out = []
    for left, right in _OPPOSED:
        la, ra = bool(left & fa.words), bool(right & fa.words)
        lb, rb = bool(left & fb.words), bool(right & fb.words)
        if (la and not ra and rb and not lb) or (ra and not la and lb and not rb):
            out.append(f"opposed: {_show(left)} vs {_show(right)}")
    for group in _CONTRAST:
        ma = {group[w] for w in fa.words if w in group}
        mb = {group[w] for w in fb.words if w in group}
        if ma and mb and ma != mb:
            out.append(f"opposed: {_show(ma)} vs {_show(mb)}")
    only_a, only_b = fa.stems - fb.stems, fb.stems - fa.stems
    for x, y in ((only_a, only_b), (only_b, only_a)):
        for word in x:
            if _negated_form(word, y):
                out.append(f"opposed: {word!r} negates a word of the other prompt")
    return out


def _negated_form(word: str, others: set[str] | frozenset[str]) -> bool:
    for prefix in lx.OPPOSING_PREFIXES:
        base = word[len(prefix) :]
        if word.startswith(prefix) and len(base) >= 4 and base in others:
            return True
    if word.endswith("less") and len(word) > 7:
        return word[:-4] + "ful" in others
    return False


_RULES: tuple[Callable[[Features, Features], list[str]], ...] = (
    _numbers,
    _entities,
    _quoted,
    _code,
    _negation,
    _direction,
    _question,
    _opposed,
)
