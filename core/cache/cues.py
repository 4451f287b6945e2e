"""Clause-level cues the guard compares: the question asked, negation, direction.

Helpers of :mod:`core.cache.features`: :func:`question` and :func:`negation` read the
lowercase words of a prompt (contractions already expanded); :func:`roles` reads the
stream of content words, direction markers and boundaries built there.
"""

from __future__ import annotations

from core.cache import lexicon as lx

__all__ = ["ROLE_MARKERS", "negation", "question", "roles"]

_WH = lx.words("who whom whose what which when where why how")
_HOW_QUANTITY = lx.words("long often old far")
_TIME_NOUNS = lx.words("time year day date month century decade season hour")
_WAY_NOUNS = lx.words(
    "way ways method methods steps step process procedure command commands technique "
    "techniques instructions"
)
ROLE_MARKERS: dict[str, tuple[str | None, str | None]] = {
    **dict.fromkeys(("to", "into", "onto", "towards", "toward", "->", "=>"), ("src", "dst")),
    "from": (None, "src"),
    "before": ("early", "late"),
    "after": ("late", "early"),
    "than": ("more", "less"),
    "per": ("num", "den"),
}


def roles(items: list[tuple[str, str]]) -> tuple[tuple[str, frozenset[str]], ...]:
    """Each content word takes the role of its nearest direction marker (2 words away)."""
    best: dict[str, tuple[int, set[str]]] = {}

    def assign(key: str, role: str | None, dist: int) -> None:
        if role is None:
            return
        have = best.get(key)
        if have is None or dist < have[0]:
            best[key] = (dist, {role})
        elif dist == have[0]:
            have[1].add(role)

    for pos, (kind, marker) in enumerate(items):
        if kind != "m":
            continue
        left_role, right_role = ROLE_MARKERS[marker]
        for step, role in ((-1, left_role), (1, right_role)):
            dist, j = 0, pos + step
            while 0 <= j < len(items) and dist < 2 and items[j][0] == "c":
                dist += 1
                assign(items[j][1], role, dist)
                j += step
    return tuple(sorted((k, frozenset(v)) for k, (_, v) in best.items() if len(v) == 1))


def question(words: list[str]) -> str | None:
    for i, w in enumerate(words):
        if w not in _WH:
            continue
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w == "how":
            if nxt in ("many", "much"):
                return "how many/much"  # the noun, not the word, says what is counted
            if nxt in _HOW_QUANTITY:
                return "how " + nxt
            return "why" if nxt == "come" else ("how big" if nxt in lx.SCALE_WORDS else "how")
        if w in ("what", "which"):
            return _what_question(words, i)
        return {"whom": "who", "whose": "who"}.get(w, w)
    content = [w for w in words if w not in lx.FILLERS]
    if content and content[0] in lx.AUXILIARIES:
        second = content[1] if len(content) > 1 else ""
        if second == "you" or (second in ("there", "it") and "way" in content[:5]):
            return None  # "can you ...", "is there a way to ..." are requests
        if content[:3] == [content[0], "it", "possible"]:
            return None
        return "yes/no"
    return None


def _what_question(words: list[str], i: int) -> str:
    after = words[i + 1 : i + 7]
    if after[:1] and after[0] in _TIME_NOUNS and _ends_phrase(after, after[0]):
        return "when"
    for j, w in enumerate(after[:5]):
        if w in _WAY_NOUNS and after[j + 1 : j + 2] in (["to"], ["for"]):
            return "how"
    if after[:1] and after[0] in ("cause", "causes", "caused"):
        return "why"
    if after[:2] in (["is", "the"], ["are", "the"], ["was", "the"], ["were", "the"]):
        for noun in after[2:4]:  # "what is the (best) time", "what is the number of"
            if noun in _TIME_NOUNS and _ends_phrase(after, noun):
                return "when"
            if noun in lx.QUANTITY_NOUNS:
                return lx.QUANTITY_NOUNS[noun]
    return "what"


def _ends_phrase(words: list[str], noun: str) -> bool:
    """``time`` heads its phrase in "what time is it", not in "what time zone"."""
    nxt = words[words.index(noun) + 1 : words.index(noun) + 2]
    return not nxt or nxt[0] in lx.STOPWORDS


def negation(words: list[str]) -> frozenset[str]:
    found = set()
    for i, w in enumerate(words):
        cls = lx.NEGATION.get(w)
        nxt = words[i + 1] if i + 1 < len(words) else ""
        prev = words[i - 1] if i else ""
        if cls is None or (w == "not" and nxt == "only"):
            continue
        if w == "no" and (nxt in ("problem", "worries", "worry", "rush") or prev == "or"):
            continue
        found.add(cls)
    return frozenset(found)
