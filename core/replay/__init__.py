"""What-if replay: a recorded history re-priced offline under another configuration.

The engine's entry point is :meth:`core.engine.Engine.replay`; the CLI's is
``centwise replay``. No provider is called and nothing is written.
"""

from core.replay.quality import QualityEstimate
from core.replay.report import (
    BudgetDay,
    CacheReplay,
    ReplayReport,
    Savings,
    SpendRow,
    render_text,
    report_json,
)
from core.replay.simulate import ReplayInputs, replay

__all__ = [
    "BudgetDay",
    "CacheReplay",
    "QualityEstimate",
    "ReplayInputs",
    "ReplayReport",
    "Savings",
    "SpendRow",
    "render_text",
    "replay",
    "report_json",
]
