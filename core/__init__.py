"""Centwise's engine: UI-free, driven alike by the CLI, the GUI, tests and a gateway.

The public surface is the :class:`~core.engine.Engine` facade and the plain data it
returns; everything else is an implementation detail of the stages.
"""

from core.config import CentwiseConfig, load_config, parse_config
from core.engine import Engine, Estimate, SpendSummary
from core.errors import CentwiseError
from core.pipeline.request import Reply
from core.types import Message, RequestRecord, Usage

__all__ = [
    "CentwiseConfig",
    "CentwiseError",
    "Engine",
    "Estimate",
    "Message",
    "Reply",
    "RequestRecord",
    "SpendSummary",
    "Usage",
    "load_config",
    "parse_config",
]
