"""Context management: stored conversations and the window a request carries.

* :mod:`core.context.conversations`: :class:`ConversationStore` (SQLite), messages
  and rolling summaries;
* :mod:`core.context.window`: the window strategies (strip metadata, rank by recency
  or relevance, fit to a token budget) and what they saved.

The stages that apply them, and the summarizer, live in :mod:`core.pipeline`.
"""

from core.context.conversations import ConversationInfo, ConversationStore, StoredSummary
from core.context.window import ContextState, MessageTokens, SavingsBreakdown

__all__ = [
    "ContextState",
    "ConversationInfo",
    "ConversationStore",
    "MessageTokens",
    "SavingsBreakdown",
    "StoredSummary",
]
