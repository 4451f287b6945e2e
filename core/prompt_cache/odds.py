"""How often a conversation, a client or a shared system prompt comes back within the
TTL, and how often what comes back continues the whole prompt before it (a
conversation's next turn, not a new question under the same system prompt): the odds
that decide whether a cache write's premium is worth paying."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

__all__ = ["ReuseOdds"]

_MAX_KEYS = 4096


@dataclass(slots=True)
class _Count:
    returned: int = 0
    chances: int = 0


class ReuseOdds:
    """How likely a key (a conversation, a client, a shared head of tools and system
    prompt) is to be sent again within the TTL, learned from what this process saw.

    Each request is a chance; it counts as returned when the same key comes again
    within the TTL, as not returned once the TTL has passed without it. A key's own
    record is blended with the rate over all keys (two pseudo-observations), which
    itself starts at one half.
    """

    def __init__(self) -> None:
        self._keys: OrderedDict[str, _Count] = OrderedDict()
        self._last: dict[str, float] = {}
        self._open: deque[tuple[float, str]] = deque()
        self.total = _Count()
        self._continued: OrderedDict[str, _Count] = OrderedDict()
        self.total_continued = _Count()

    def continued(self, key: str, whole: bool) -> None:
        """A request of ``key`` came back within the TTL; ``whole``: it began with all
        of the request before it."""
        count = self._continued.setdefault(key, _Count())
        self._continued.move_to_end(key)
        count.chances += 1
        self.total_continued.chances += 1
        if whole:
            count.returned += 1
            self.total_continued.returned += 1
        while len(self._continued) > _MAX_KEYS:
            self._continued.popitem(last=False)

    def continuation(self, key: str) -> float:
        """The chance that a request of ``key`` that comes back continues the whole
        prompt before it (blended with all keys' rate, which starts at one half)."""
        t = self.total_continued
        base = (t.returned + 1) / (t.chances + 2)
        own = self._continued.get(key)
        if own is None:
            return base
        return (own.returned + 2 * base) / (own.chances + 2)

    def _settle(self, now: float, ttl: float) -> None:
        """Count the chances whose TTL passed with nothing sent as not returned."""
        while self._open and self._open[0][0] + ttl < now:
            at, key = self._open.popleft()
            if self._last.get(key) == at:
                self._last.pop(key, None)
                count = self._keys.get(key)
                if count is not None:
                    count.chances += 1
                self.total.chances += 1

    def probability(self, key: str, now: float, ttl: float) -> float:
        """The chance ``key`` comes back within ``ttl`` seconds."""
        self._settle(now, ttl)
        base = (self.total.returned + 1) / (self.total.chances + 2)
        own = self._keys.get(key)
        if own is None:
            return base
        return (own.returned + 2 * base) / (own.chances + 2)

    def seen(self, key: str, now: float, ttl: float) -> None:
        """``key`` was sent at ``now``: settle its previous chance, open a new one."""
        self._settle(now, ttl)
        count = self._keys.setdefault(key, _Count())
        self._keys.move_to_end(key)
        last = self._last.get(key)
        if last is not None:  # its chance is still open: it came back in time
            count.chances += 1
            self.total.chances += 1
            if now - last <= ttl:
                count.returned += 1
                self.total.returned += 1
        self._last[key] = now
        self._open.append((now, key))
        while len(self._keys) > _MAX_KEYS:
            old, _ = self._keys.popitem(last=False)
            self._last.pop(old, None)
