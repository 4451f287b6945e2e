"""The LLM judge: a rubric prompt that must come back as JSON ``{"score": 1-10, "reason"}``.

Judge calls go through the whole pipeline with ``purpose="judge"`` and no cache, so
their cost is in the ledger under its own purpose. A malformed verdict is asked for
once more; if the second is malformed too the answer is *unscored* (never guessed).

**The simulated judge.** The Simulator's replies are not verdicts, so when the judge
tier runs on the Simulator it recognises the judge's system prompt (it starts with
:data:`~core.providers.simulated_judge.JUDGE_MARKER`) and answers with
:func:`~core.providers.simulated_judge.simulated_verdict`: a deterministic,
honest score computed only from what can be observed in the candidate answer (its
overlap with the reference's content words, or with the prompt's when there is no
reference, and its length against the reference's). Such verdicts are flagged
``simulated`` in the ledger, like every Simulator record. They measure a proxy for
quality, not quality: use a real judge tier for decisions that matter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from core.providers.simulated_judge import JUDGE_MARKER

if TYPE_CHECKING:
    from core.pipeline.request import Reply

__all__ = [
    "Judge",
    "Verdict",
    "judge_prompt",
    "parse_verdict",
]

JUDGE_SYSTEM = (
    JUDGE_MARKER + " Grade the candidate answer to the user's prompt on a scale of 1"
    " (useless or wrong) to 10 (complete, correct and clear). Follow the rubric; compare"
    " with the reference answer when one is given. Reply with JSON only, exactly"
    ' {"score": <integer 1-10>, "reason": "<one sentence>"}.'
)
_STRICT = " Your previous reply was not that JSON object. Reply with the JSON object only."
DEFAULT_RUBRIC = "Is the answer correct, complete for what was asked, and clear?"

Ask = Callable[..., "Reply"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's score (None: unscored), why, and what judging cost."""

    score: float | None
    reason: str
    request_ids: list[str] = field(default_factory=list)
    cost_usd: Decimal = Decimal(0)
    simulated: bool = False

    @property
    def scored(self) -> bool:
        return self.score is not None


def judge_prompt(prompt: str, answer: str, reference: str | None, rubric: str | None) -> str:
    """The user message a judge grades (tags make the parts unambiguous)."""
    parts = [
        f"<rubric>\n{rubric or DEFAULT_RUBRIC}\n</rubric>",
        f"<prompt>\n{prompt}\n</prompt>",
    ]
    if reference:
        parts.append(f"<reference>\n{reference}\n</reference>")
    parts.append(f"<answer>\n{answer}\n</answer>")
    return "\n".join(parts)


def parse_verdict(text: str) -> tuple[float, str] | None:
    """``(score, reason)`` from a reply holding one JSON object; None when malformed.

    Tolerates a code fence or words around the object; the score must be a number
    from 1 to 10.
    """
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    score, reason = obj.get("score"), obj.get("reason", "")
    if isinstance(score, bool) or not isinstance(score, int | float):
        return None
    if not 1 <= score <= 10 or not isinstance(reason, str):
        return None
    return float(score), reason


class Judge:
    """Grades answers by asking the judge tier through ``ask`` (``Engine.ask``)."""

    def __init__(self, ask: Ask, tier: str) -> None:
        self.ask = ask
        self.tier = tier

    async def grade(
        self, prompt: str, answer: str, reference: str | None = None, rubric: str | None = None
    ) -> Verdict:
        """One verdict; a malformed reply is retried once, then the answer is unscored."""
        message = judge_prompt(prompt, answer, reference, rubric)
        ids: list[str] = []
        cost = Decimal(0)
        simulated = False
        for system in (JUDGE_SYSTEM, JUDGE_SYSTEM + _STRICT):
            reply = self.ask(
                message, system=system, model=self.tier, purpose="judge", use_cache=False
            )
            record = await reply.collect()
            ids.append(record.request_id)
            cost += record.cost_usd or Decimal(0)
            simulated = simulated or record.simulated
            parsed = parse_verdict(record.response)
            if parsed is not None:
                return Verdict(parsed[0], parsed[1], ids, cost, simulated)
        return Verdict(
            None, "the judge's reply was not a valid verdict, twice", ids, cost, simulated
        )
