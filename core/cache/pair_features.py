"""What the learned verifier looks at in a pair of prompts.

Three families of features, each measured to help on the dev split (the README's
cache section has the ablation):

``sentence``  cosine of the two MiniLM embeddings;
``tokens``    how well each word piece of one prompt finds a counterpart among the
              other's contextual token vectors (a BERTScore-like alignment: the mean,
              the worst and second-worst aligned content token, how many align badly),
              and the share of word pieces shared outright;
``words``     the words only one prompt has (after stemming, stopwords aside), those
              explained by a likely typo or as an abbreviation of words the other
              prompt spells out (initials, "tbsp" / "tablespoon"), arithmetic said in
              words or symbols alike, word-order similarity and overlap;
``refined``   two guard rules made finer: question words that conflict when both are
              specific (who / when, why / how long; "how" and "what" ask alike), and
              names one prompt has that the other neither has nor abbreviates;
``language``  how differently the two prompts use English function words and letters
              outside ASCII (a question asked in another language usually wants its
              answer in that language);
``guard``     the rule guard's verdict and, one flag each, the categories it found
              different (numbers, entities, quotes, code, negation, direction,
              question word, opposed terms).

The model itself (weights and the operating curve) lives in :mod:`core.cache.verifier`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from difflib import SequenceMatcher

import numpy as np

from core.cache import lexicon as lx
from core.cache.features import extract, stem
from core.cache.guard import CATEGORIES, GuardVerdict
from core.cache.minilm import TokenStates

__all__ = ["FEATURE_NAMES", "pair_features"]

_SPECIAL = frozenset({"[CLS]", "[SEP]", "[UNK]", "[PAD]"})
_WORD = re.compile(r"[\w']+")
_BAD_ALIGNMENT = 0.6  # a content token whose best counterpart is below this is "unmatched"
_TYPO_DISTANCE = 0.3  # at most this share of characters differ: a typo, not another word

FEATURE_NAMES: tuple[str, ...] = (
    "sentence_cosine",
    "worst_token_alignment",
    "other_side_worst_alignment",
    "mean_alignment_a",
    "mean_alignment_b",
    "min_mean_alignment",
    "second_worst_alignment_a",
    "second_worst_alignment_b",
    "min_shared_pieces",
    "max_shared_pieces",
    "badly_aligned_tokens",
    "length_log_ratio",
    "guard_passes",
    *(f"guard_{c}" for c in CATEGORIES),
    "words_only_in_one",
    "words_unexplained",
    "min_side_unexplained",
    "max_side_unexplained",
    "same_words",
    "nothing_unexplained",
    "word_order_similarity",
    "word_overlap",
    "one_word_swapped",
    "abbreviations_explained",
    "specific_question_conflict",
    "entities_unexplained",
    "english_share_difference",
    "non_ascii_share_difference",
)


def _content(tokens: tuple[str, ...]) -> list[int]:
    found = [
        i
        for i, t in enumerate(tokens)
        if t not in _SPECIAL and any(c.isalnum() for c in t) and t.lstrip("#") not in lx.STOPWORDS
    ]
    return found or [i for i, t in enumerate(tokens) if t not in _SPECIAL] or [0]


def _alignment(a: TokenStates, b: TokenStates) -> np.ndarray:
    """For each content token of ``a``, its best cosine among ``b``'s real tokens."""
    inner = [i for i, t in enumerate(b.tokens) if t not in _SPECIAL] or [0]
    sims = a.vectors[_content(a.tokens)] @ b.vectors[inner].T
    best: np.ndarray = sims.max(axis=1)
    return best


def _shared(a: TokenStates, b: TokenStates) -> float:
    other = set(b.ids)
    idx = _content(a.tokens)
    return sum(a.ids[i] in other for i in idx) / len(idx)


def _token_features(a: TokenStates, b: TokenStates) -> list[float]:
    ab, ba = _alignment(a, b), _alignment(b, a)
    worst = sorted([float(ab.min()), float(ba.min())])
    second_a = float(np.sort(ab)[:2][-1])
    second_b = float(np.sort(ba)[:2][-1])
    shared = sorted([_shared(a, b), _shared(b, a)])
    return [
        float(a.sentence @ b.sentence),
        worst[0],
        worst[1],
        float(ab.mean()),
        float(ba.mean()),
        float(min(ab.mean(), ba.mean())),
        second_a,
        second_b,
        shared[0],
        shared[1],
        float((ab < _BAD_ALIGNMENT).sum() + (ba < _BAD_ALIGNMENT).sum()),
        abs(math.log(len(a.tokens) / len(b.tokens))),
    ]


def _guard_features(verdict: GuardVerdict) -> list[float]:
    found = set(verdict.categories)
    return [float(verdict.ok), *(float(c in found) for c in CATEGORIES)]


_OPERATORS = {
    "plus": "+",
    "add": "+",
    "minus": "-",
    "subtract": "-",
    "times": "*",
    "multiplied": "*",
    "x": "*",
    "divided": "/",
    "over": "/",
    "squared": "^2",
    "cubed": "^3",
    "power": "^",
    "sqrt": "sqrt",
    "root": "sqrt",
    "percent": "%",
    "equals": "=",
    "equal": "=",
    "greater": ">",
    "less": "<",
    "than": "",
}
_SYMBOLS = {"+": "+", "-": "-", "*": "*", "×": "*", "/": "/", "÷": "/", "^": "^", "%": "%",
            "=": "=", "√": "sqrt", "²": "^2", "³": "^3", ">": ">", "<": "<",
            "≥": ">", "≤": "<"}  # fmt: skip
_TOKEN_CASED = re.compile(r"[\w']+|\^\d+|[+\-*×/÷^%=√²³<>≥≤]")


def _content_stems(text: str) -> list[str]:
    """Stems of the content words, arithmetic said in words or symbols made alike."""
    out = []
    for raw in _TOKEN_CASED.findall(text.replace("\u2019", "'")):
        w = raw.lower()
        if raw.isupper() and len(raw) >= 2:  # "US", "IT": an acronym, not a stopword
            out.append(w)
        elif w in _SYMBOLS or w.startswith("^"):
            out.append(_SYMBOLS.get(w, w))
        elif w in _OPERATORS:
            out += [_OPERATORS[w]] if _OPERATORS[w] else []
        elif w not in lx.STOPWORDS:
            out.append(stem(w))
    return out


def _typo_of(word: str, others: list[str]) -> bool:
    floor = 1 - _TYPO_DISTANCE
    for o in others:
        m = SequenceMatcher(None, word, o)
        # The quick upper bounds rule most words out before the full comparison.
        if m.real_quick_ratio() >= floor and m.quick_ratio() >= floor and m.ratio() >= floor:
            return True
    return False


_NUMERONYM = re.compile(r"([a-z])(\d{1,2})([a-z])")


def _subsequence(short: str, long: str) -> bool:
    rest = iter(long)
    return all(ch in rest for ch in short)


def _expansion(word: str, others: list[str], other_words: list[str]) -> list[str] | None:
    """The other prompt's words that ``word`` abbreviates: a run of words whose
    initials it is ("hvac"), or one word it shortens ("tbsp" / "tablespoon")."""
    if len(word) < 2 or not word.isalnum():
        return None
    numeronym = _NUMERONYM.fullmatch(word)  # k8s, i18n, a11y
    for o in others:
        if len(o) >= len(word) + 2 and o[0] == word[0] and _subsequence(word, o):
            return [o]
        if numeronym and len(o) == int(numeronym[2]) + 2 and o[0] + o[-1] == word[0] + word[-1]:
            return [o]
    plain = "".join(ch for ch in word if ch.isalpha())
    if len(plain) < 2:
        return None
    for words in (other_words, [w for w in other_words if w not in lx.STOPWORDS]):
        initials = "".join(w[0] for w in words)
        at = initials.find(plain)
        if at >= 0:
            return [stem(w) for w in words[at : at + len(plain)]]
    return None


def _explain_abbreviations(
    only_a: list[str], only_b: list[str], words_a: list[str], words_b: list[str]
) -> tuple[set[str], int]:
    """Words on either side accounted for by an abbreviation, and how many there were."""
    explained: set[str] = set()
    found = 0
    for mine, theirs, their_words in ((only_a, only_b, words_b), (only_b, only_a, words_a)):
        for w in mine:
            expansion = _expansion(w, theirs, their_words)
            if expansion is not None:
                found += 1
                explained |= {w, *expansion}
    return explained, found


def _word_features(text_a: str, text_b: str) -> list[float]:
    ca, cb = _content_stems(text_a), _content_stems(text_b)
    bag_a, bag_b = Counter(ca), Counter(cb)
    only_a, only_b = list((bag_a - bag_b).elements()), list((bag_b - bag_a).elements())
    words_a, words_b = _WORD.findall(text_a.lower()), _WORD.findall(text_b.lower())
    abbr, n_abbr = _explain_abbreviations(only_a, only_b, words_a, words_b)
    left_a = sum(not _typo_of(w, only_b) and w not in abbr for w in only_a)
    left_b = sum(not _typo_of(w, only_a) and w not in abbr for w in only_b)
    union = set(ca) | set(cb)
    return [
        float(len(only_a) + len(only_b)),
        float(left_a + left_b),
        float(min(left_a, left_b)),
        float(max(left_a, left_b)),
        float(not only_a and not only_b),
        float(left_a + left_b == 0),
        SequenceMatcher(None, ca, cb).ratio(),
        len(set(ca) & set(cb)) / max(1, len(union)),
        float(left_a == 1 and left_b == 1),
        float(n_abbr),
    ]


_GENERIC_QUESTIONS = frozenset({"how", "what", "which", "yes/no", None})


def _refined_guard(text_a: str, text_b: str) -> list[float]:
    fa, fb = extract(text_a), extract(text_b)
    specific = fa.question not in _GENERIC_QUESTIONS and fb.question not in _GENERIC_QUESTIONS
    conflict = specific and fa.question != fb.question
    ca, cb = _content_stems(text_a), _content_stems(text_b)
    only_a, only_b = list(Counter(ca) - Counter(cb)), list(Counter(cb) - Counter(ca))
    words_a, words_b = _WORD.findall(text_a.lower()), _WORD.findall(text_b.lower())
    explained, _ = _explain_abbreviations(only_a, only_b, words_a, words_b)
    unexplained = 0
    for mine, other, other_stems in ((fa, fb, cb), (fb, fa, ca)):
        for entity in mine.entities:
            word = entity.lower()
            if entity in other.words or stem(entity) in other.words:
                continue
            if {word, stem(word)} & explained or _typo_of(word, other_stems):
                continue
            unexplained += 1
    return [float(conflict), float(unexplained)]


def _language_features(text_a: str, text_b: str) -> list[float]:
    def english(text: str) -> float:
        words = _WORD.findall(text.lower())
        return sum(w in lx.STOPWORDS for w in words) / max(1, len(words))

    def non_ascii(text: str) -> float:
        letters = [ch for ch in text if ch.isalpha()]
        return sum(not ch.isascii() for ch in letters) / max(1, len(letters))

    return [abs(english(text_a) - english(text_b)), abs(non_ascii(text_a) - non_ascii(text_b))]


def pair_features(
    text_a: str, text_b: str, a: TokenStates, b: TokenStates, verdict: GuardVerdict
) -> list[float]:
    """The feature vector of one pair, in :data:`FEATURE_NAMES` order."""
    return [
        *_token_features(a, b),
        *_guard_features(verdict),
        *_word_features(text_a, text_b),
        *_refined_guard(text_a, text_b),
        *_language_features(text_a, text_b),
    ]
