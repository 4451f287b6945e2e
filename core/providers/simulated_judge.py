"""The Simulator's side of the judge: it knows a judge request and answers with a verdict.

The judge (:mod:`core.quality.judge`) starts its system prompt with
:data:`JUDGE_MARKER` and tags the parts of its message (``<prompt>``,
``<reference>``, ``<answer>``); the Simulator recognises the marker and scores the
answer with :func:`simulated_verdict`, deterministically, from what can be observed.
The marker and the tags are the contract between the two, so they live here, below
both.
"""

from __future__ import annotations

import json
import re

__all__ = ["JUDGE_MARKER", "simulated_verdict"]

JUDGE_MARKER = "You are Centwise's answer judge."

_WORD = re.compile(r"[a-z][a-z0-9]{2,}")
_COMMON = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "from",
        "are",
        "was",
        "were",
        "have",
        "has",
        "not",
        "but",
        "you",
        "your",
        "can",
        "will",
        "what",
        "when",
        "which",
        "who",
        "how",
        "why",
        "its",
        "into",
        "about",
        "than",
        "then",
        "them",
        "they",
        "their",
        "there",
    ]
)


def _section(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.DOTALL)
    return m.group(1) if m else ""


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _COMMON}


def simulated_verdict(message: str) -> str:
    """The Simulator's verdict for a :func:`judge_prompt` message, as JSON text.

    ``coverage`` is the share of the reference's content words found in the answer
    (the prompt's, without a reference); ``detail`` is the answer's length against
    twice the reference's (at least 60 words), capped at 1. Score = 1 + 9 x (0.6 x
    coverage + 0.4 x detail), rounded to an integer.
    """
    answer, reference = _section(message, "answer"), _section(message, "reference")
    target = _content_words(reference or _section(message, "prompt"))
    got = _content_words(answer)
    coverage = len(target & got) / len(target) if target else 0.0
    wanted = max(60, 2 * len(reference.split()))
    detail = min(1.0, len(answer.split()) / wanted)
    score = round(1 + 9 * (0.6 * coverage + 0.4 * detail))
    reason = f"simulated judge: {coverage:.0%} of the expected terms, detail {detail:.0%}"
    return json.dumps({"score": score, "reason": reason})
