"""Live routing quality: thumbs up/down, judged samples, per-tier quality and alerts.

* **Feedback** (``centwise feedback REQUEST_ID up|down``, or the app) is stored per
  request with its tier; a vote can be changed, never counted twice.
* **Sampling**: a share of finished user requests (``[observability]
  quality_sampling_rate``, default 5%) is judged in the background by the judge tier
  (``purpose="judge"``). Which requests are sampled depends only on the request id,
  so the share is exact over many requests and reproducible in tests. Answers from
  the Simulator are only sampled with ``[routing] sample_simulated = true``. Samples
  run while the engine lives; closing it cancels judgements still in flight (a
  one-shot CLI command does not wait for them).
* **Alerts**: when a tier's mean judged score falls below ``[routing]
  min_quality_score``, or its share of thumbs up below ``target_retention`` (each
  once there are ``quality_alert_min_samples`` of them), a ``quality_alert`` event
  names the tier and suggests recalibrating, at most once a day per tier and kind
  (across processes). Routing is never changed silently.

The tables (ledger schema v3) live in the ledger's database and are read and written
through :meth:`~core.ledger.store.Ledger.reading` and ``writing()``, so this module owns
its SQL (portable: it runs on the SQLite file and on PostgreSQL) and the ledger's own code
is untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from core.errors import InputError
from core.ledger.codec import local_day
from core.money import from_pusd
from core.quality.judge import Judge
from core.types import RequestRecord

if TYPE_CHECKING:
    from core.config import CentwiseConfig
    from core.events import EventHub
    from core.ledger import Ledger
    from core.pipeline.request import Reply

__all__ = ["QUALITY_ALERT", "QualityAlert", "QualityMonitor", "QualityStore", "TierQuality"]

QUALITY_ALERT = "quality_alert"
Vote = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class TierQuality:
    """Running quality of one tier, beside what its answers cost."""

    tier: str
    judged: int
    mean_score: float | None  # judge scale 1-10
    feedback_up: int
    feedback_down: int
    requests: int  # the tier's own (user, uncached, ok) requests
    mean_cost_usd: Decimal | None
    #: Mean cost of one request divided by its mean judged score.
    cost_per_quality_point: Decimal | None
    simulated: bool


@dataclass(frozen=True, slots=True)
class QualityAlert:
    tier: str
    kind: str  # judged | feedback
    value: float
    threshold: float
    samples: int
    message: str


class QualityStore:
    """The ``feedback`` and ``quality_samples`` tables, in the ledger's database."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def close(self) -> None:
        """Nothing of its own to close: the ledger owns the connection."""

    def add_feedback(self, request_id: str, vote: Vote, at: float) -> str | None:
        """Store (or change) a vote; returns the request's tier."""
        with self.ledger.writing() as db:
            found = db.execute(
                "SELECT tier FROM requests WHERE request_id = ?", (request_id,)
            ).fetchone()
            if found is None:
                raise InputError(f"no request {request_id!r} in the ledger")
            db.execute(
                "INSERT INTO feedback (request_id, tier, verdict, at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (request_id) DO UPDATE SET tier = excluded.tier,"
                " verdict = excluded.verdict, at = excluded.at",
                (request_id, found[0], vote, at),
            )
            return str(found[0]) if found[0] is not None else None

    def add_sample(
        self, rec: RequestRecord, score: float | None, reason: str, judge_id: str | None,
        judge_tier: str, simulated: bool, at: float,
    ) -> None:  # fmt: skip
        with self.ledger.writing() as db:
            db.execute(
                "INSERT INTO quality_samples (request_id, tier, score, reason,"
                " judge_request_id, judge_tier, simulated, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (request_id) DO UPDATE SET tier = excluded.tier,"
                " score = excluded.score, reason = excluded.reason,"
                " judge_request_id = excluded.judge_request_id,"
                " judge_tier = excluded.judge_tier, simulated = excluded.simulated,"
                " at = excluded.at",
                (rec.request_id, rec.tier, None if score is None else float(score), reason,
                 judge_id, judge_tier, int(simulated), at),
            )  # fmt: skip

    def tier_quality(self, tiers: list[str]) -> list[TierQuality]:
        with self.ledger.reading() as db:
            judged = {
                r[0]: r[1:]
                for r in db.execute(
                    "SELECT tier, COUNT(score), AVG(score), MAX(simulated) FROM quality_samples"
                    " GROUP BY tier"
                ).fetchall()
            }
            votes = {
                r[0]: r[1:]
                for r in db.execute(
                    "SELECT tier, SUM(CASE WHEN verdict = 'up' THEN 1 ELSE 0 END),"
                    " SUM(CASE WHEN verdict = 'down' THEN 1 ELSE 0 END) FROM feedback"
                    " GROUP BY tier"
                ).fetchall()
            }
            spend = {
                r[0]: r[1:]
                for r in db.execute(
                    "SELECT tier, COUNT(*), SUM(cost_pusd) FROM requests WHERE purpose = 'user'"
                    " AND status = 'ok' AND cache_outcome = 'miss' AND cost_known = 1"
                    " GROUP BY tier"
                ).fetchall()
            }
        return [_tier_quality(t, judged.get(t), votes.get(t), spend.get(t)) for t in tiers]


def _tier_quality(
    tier: str,
    judged: tuple[int, float | None, int | None] | None,
    votes: tuple[int | None, int | None] | None,
    spend: tuple[int, int | None] | None,
) -> TierQuality:
    n_judged, mean, simulated = judged or (0, None, 0)
    up, down = votes or (0, 0)
    n_req, pusd = spend or (0, 0)
    mean_cost = from_pusd(int(pusd or 0)) / n_req if n_req else None
    per_point = None
    if mean_cost is not None and mean:
        per_point = mean_cost / Decimal(repr(round(mean, 6)))
    return TierQuality(
        tier, int(n_judged), mean, int(up or 0), int(down or 0), int(n_req), mean_cost,
        per_point, bool(simulated),
    )  # fmt: skip


def sampled(request_id: str, rate: float) -> bool:
    """Whether ``request_id`` falls in the sampled share (uniform in its hash)."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


class QualityMonitor:
    """Judges a sample of live answers in the background and raises quality alerts."""

    def __init__(
        self,
        config: CentwiseConfig,
        store: QualityStore,
        ledger: Ledger,
        events: EventHub,
        ask: Callable[..., Reply],
        clock: Callable[[], float],
        on_cache_verdict: Callable[[str, bool], object] | None = None,
    ) -> None:
        self.config, self.store, self.ledger = config, store, ledger
        self.events, self.clock = events, clock
        #: ``(request_id, right)`` for a judged semantic cache hit: evidence for the
        #: served entry's threshold (see core.cache.evidence).
        self.on_cache_verdict = on_cache_verdict
        tiers = config.routing.tiers
        self.judge_tier = config.routing.judge_tier or tiers[-1].id
        self.judge = Judge(ask, self.judge_tier)
        self._pending: set[asyncio.Task[None]] = set()

    def on_request_finished(self, rec: RequestRecord) -> None:
        """The ``request_finished`` listener: maybe schedule a judge for ``rec``: a live
        answer (for its tier's quality), or an answer the cache served to a prompt it
        was not written for (for that cache entry's threshold)."""
        hit = rec.cache_outcome == "semantic" and self.on_cache_verdict is not None
        if rec.purpose != "user" or rec.status != "ok" or not (rec.cache_outcome == "miss" or hit):
            return
        if not rec.response or not sampled(rec.request_id, self._rate()):
            return
        if rec.simulated and not self.config.routing.sample_simulated:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): nothing can run in the background
        task = loop.create_task(self._judge_hit(rec) if hit else self._judge(rec))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _judge_hit(self, rec: RequestRecord) -> None:
        assert self.on_cache_verdict is not None
        verdict = await self.judge.grade(rec.prompt, rec.response)
        if verdict.score is None:
            return  # unscored: no evidence either way
        right = verdict.score >= self.config.routing.min_quality_score
        await asyncio.to_thread(self.on_cache_verdict, rec.request_id, right)

    def _rate(self) -> float:
        return self.config.observability.quality_sampling_rate

    async def _judge(self, rec: RequestRecord) -> None:
        verdict = await self.judge.grade(rec.prompt, rec.response)
        judge_id = verdict.request_ids[-1] if verdict.request_ids else None
        self.store.add_sample(
            rec, verdict.score, verdict.reason, judge_id, self.judge_tier,
            verdict.simulated, self.clock(),
        )  # fmt: skip
        if rec.tier:
            self.check(rec.tier)

    async def drain(self) -> None:
        """Wait for the background judgements in flight (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*list(self._pending), return_exceptions=True)

    def check(self, tier: str) -> list[QualityAlert]:
        """Emit (once a day per tier and kind) the alerts ``tier``'s quality calls for."""
        q = next(iter(self.store.tier_quality([tier])))
        alerts = []
        for alert in _alerts_for(q, self.config):
            key = f"quality:{tier}:{alert.kind}:{local_day(self.clock())}"
            if self.ledger.claim_alert(key, self.clock()):
                self.events.emit(QUALITY_ALERT, alert)
                alerts.append(alert)
        return alerts


def _alerts_for(q: TierQuality, config: CentwiseConfig) -> list[QualityAlert]:
    r = config.routing
    hint = "run `centwise route calibrate GOLDEN.jsonl` to re-fit the boundaries"
    out = []
    mean = q.mean_score
    if q.judged >= r.quality_alert_min_samples and mean is not None and mean < r.min_quality_score:
        message = (
            f"tier {q.tier}: mean judged score {mean:.2f} over {q.judged} samples is below"
            f" {r.min_quality_score}; {hint}"
        )
        out.append(QualityAlert(q.tier, "judged", mean, r.min_quality_score, q.judged, message))
    votes = q.feedback_up + q.feedback_down
    if votes >= r.quality_alert_min_samples and q.feedback_up / votes < r.target_retention:
        share = q.feedback_up / votes
        message = (
            f"tier {q.tier}: {share:.0%} of {votes} votes are thumbs up, below the"
            f" {r.target_retention:.0%} target; {hint}"
        )
        out.append(QualityAlert(q.tier, "feedback", share, r.target_retention, votes, message))
    return out
