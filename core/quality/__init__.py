"""Quality: is the cheaper answer still good enough?

Golden sets (:mod:`~core.quality.golden`), the LLM judge (:mod:`~core.quality.judge`),
side-by-side comparison (:mod:`~core.quality.compare`), evaluation of routed against
baseline answers (:mod:`~core.quality.evaluation`), tier-boundary calibration
(:mod:`~core.quality.calibration`) and running quality from feedback and judged
samples (:mod:`~core.quality.feedback`). They ask through an
:class:`~core.quality.protocol.Asker` (what the engine offers), not the engine itself.
"""

from core.quality.compare import CompareReport, compare
from core.quality.evaluation import EvalReport, evaluate
from core.quality.golden import GoldenItem, parse_golden
from core.quality.judge import Judge, Verdict
from core.quality.protocol import Asker

__all__ = [
    "Asker",
    "CompareReport",
    "EvalReport",
    "GoldenItem",
    "Judge",
    "Verdict",
    "compare",
    "evaluate",
    "parse_golden",
]
