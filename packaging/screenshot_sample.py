"""The sample data the screenshots show: a config, past requests, a photo, prompt caching.

Used by ``packaging/screenshots.py``; nothing here touches a real config or data dir.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPolygonF

from app.runtime.engine_bridge import EngineBridge
from core.accounting.prices import cost_of
from core.engine import Engine
from core.types import Message, RequestRecord, Tool, Usage

__all__ = [
    "CONFIG",
    "PROMPTS",
    "past_records",
    "prompt_cache_requests",
    "sample_photo",
    "tiny_record",
]

CONFIG = """
[budget]
daily_usd = 0.05
monthly_usd = 0.60
hard_limit = false

[context]
max_history_messages = 2

[providers.simulator]
kind = "simulator"
latency_scale = 0.1
"""
#: Sent through the pipeline before the first screenshot, each with the model beside it;
#: the short ones on the fast tier cost a few millionths of a dollar ("$0.000026").
PROMPTS = (
    ("What is a token?", "fast"),
    ("Summarise the plot of Hamlet in two sentences.", "auto"),
    ("Step by step, compare quicksort and mergesort and write Python code for both.", "premium"),
    ("Translate 'good morning' into French.", "fast"),
    ("Explain how a semantic cache decides two prompts are the same, with examples.", "auto"),
    (
        "Design a database schema for a library, then write the SQL and explain each index.",
        "balanced",
    ),
    ("What is the capital of Australia?", "fast"),
    ("Why is the sky blue?", "auto"),
)
TIERS = (("fast", "gpt-4.1-nano"), ("balanced", "gpt-4.1-mini"), ("premium", "gpt-4.1"))
MEMBERS = ("alice", "bob", "carol")


def past_records(engine: Engine, n: int, days: int) -> list[RequestRecord]:
    """Simulated requests on earlier days, priced as the real models would be."""
    rng = random.Random(7)
    now = time.time()
    out = []
    for i in range(n):
        tier, model = rng.choices(TIERS, weights=(5, 3, 2))[0]
        finished = now - 86400 * rng.randint(1, days) - rng.randint(0, 20000)
        usage = Usage(input_tokens=rng.randint(20, 900), output_tokens=rng.randint(60, 1200))
        price = engine.prices.lookup(model)
        hit = rng.random() < 0.25
        cost = cost_of(usage, price) if price else None
        out.append(
            RequestRecord(
                request_id=f"req_sample_{i:03d}",
                started_at=finished - 2,
                finished_at=finished,
                provider="simulator",
                model=model,
                tier=tier,
                route_mode="auto",
                cache_outcome="exact" if hit else "miss",
                usage=usage,
                estimated_input_tokens=usage.input_tokens,
                cost_usd=Decimal(0) if hit else cost,
                saved_usd=(cost or Decimal(0)) if hit else Decimal(0),
                latency_ms=rng.uniform(300, 4000),
                ttft_ms=rng.uniform(200, 800),
                simulated=True,
                prompt=rng.choice(PROMPTS)[0],
                response="(sample)",
                member=MEMBERS[i % len(MEMBERS)],
                app="support-bot" if i % 4 == 0 else None,
            )
        )
    return out


def tiny_record(engine: Engine) -> RequestRecord:
    """An hour-old request on gpt-4.1-nano, 60 tokens in and 50 out: $0.000026 exactly."""
    usage = Usage(input_tokens=60, output_tokens=50)
    price = engine.prices.lookup("gpt-4.1-nano")
    finished = time.time() - 3600
    return RequestRecord(
        request_id="req_sample_tiny",
        started_at=finished - 0.4,
        finished_at=finished,
        provider="simulator",
        model="gpt-4.1-nano",
        tier="fast",
        route_mode="auto",
        cache_outcome="miss",
        usage=usage,
        estimated_input_tokens=usage.input_tokens,
        cost_usd=cost_of(usage, price) if price else Decimal("0.000026"),
        latency_ms=420.0,
        ttft_ms=180.0,
        simulated=True,
        prompt="Is 'colour' British spelling?",
        response="Yes.",
        member="alice",
    )


def sample_photo(path: Path) -> Path:
    """A drawn harbour on a sunny day (sky, sun, hills, sea), to attach as a photo."""
    image = QImage(1024, 768, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    sky = QLinearGradient(0, 0, 0, 460)
    sky.setColorAt(0, QColor("#4a90d9"))
    sky.setColorAt(1, QColor("#bfe0f5"))
    painter.fillRect(QRectF(0, 0, 1024, 470), sky)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#ffd23f"))
    painter.drawEllipse(QPointF(780, 150), 70, 70)
    painter.setBrush(QColor("#5b8c51"))
    hills = [(0, 470), (160, 360), (330, 430), (520, 330), (720, 440), (900, 380), (1024, 450)]
    painter.drawPolygon(QPolygonF([QPointF(x, y) for x, y in [*hills, (1024, 470), (0, 470)]]))
    painter.setBrush(QColor("#1f5f8b"))
    painter.drawRect(QRectF(0, 470, 1024, 298))
    painter.setBrush(QColor("#f4f1ea"))
    painter.drawPolygon(
        QPolygonF([QPointF(420, 600), QPointF(620, 600), QPointF(590, 640), QPointF(450, 640)])
    )
    painter.drawPolygon(QPolygonF([QPointF(515, 470), QPointF(515, 590), QPointF(600, 590)]))
    painter.end()
    image.save(str(path), "PNG")
    return path


SUPPORT_SYSTEM = "You are the support agent of an online shop. Be concise and kind.\n" + "\n".join(
    f"Policy {i}: orders in region {i % 9} with status {i % 13} are refunded within"
    f" {3 + i % 5} days; escalate disputes over {100 + i * 7} dollars."
    for i in range(90)
)
SHOP_TOOLS = tuple(
    Tool(
        name,
        f"{name.replace('_', ' ').capitalize()} by its id.",
        {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    )
    for name in ("lookup_order", "refund_order", "track_parcel")
)


def prompt_cache_requests(bridge: EngineBridge) -> None:
    """Real requests through the pipeline on the Simulator, which caches as the real
    models do: a support conversation on Claude (automatic marks; the system prompt
    edited at turn 5), and an app on gpt-4.1 whose tool list is reordered at request 4."""
    engine = bridge.engine
    history: list[Message] = []
    system = SUPPORT_SYSTEM
    for turn in range(8):
        if turn == 5:
            system = system.replace("Policy 40:", "Policy 40 (updated Dec 3):")
        prompt = f"Customer question {turn + 1}: where is order {4100 + turn}?"
        reply = engine.ask(
            prompt, system=system, history=history, model="simulator/claude-sonnet-4-5"
        )
        future = bridge.run(reply.collect())
        assert future is not None
        rec = future.result(30)
        history += [Message("user", prompt), Message("assistant", rec.response)]
    tools = list(SHOP_TOOLS)
    for n in range(6):
        if n == 4:
            tools = tools[1:] + tools[:1]
        reply = engine.ask(
            f"Order {5200 + n}: can it still be refunded?", system=SUPPORT_SYSTEM,
            tools=tools, model="simulator/gpt-4.1", client="shop-app",
        )  # fmt: skip
        future = bridge.run(reply.collect())
        assert future is not None
        future.result(30)
