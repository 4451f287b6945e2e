"""Screenshots of every view over sample data, for the README and for review.

Run under a display (or Xvfb):
    xvfb-run -a -s "-screen 0 1400x900x24" python packaging/screenshots.py
Writes playground.png, dashboard.png, history.png, cache.png, settings.png (providers
and keys), settings-routing.png, settings-budgets.png, settings-cache.png, cache-tuner.png, whatif.png, compare.png, conversation.png and
playground-tools.png (a tool-call card and an attached image), history-tools.png (that
request's tools, image and tool call), spend-provider-cache.png (the Provider cache panel
over sample Anthropic, OpenAI and Gemini requests) and history-prompt-cache.png (one of
them whose cache broke), settings-storage.png (this computer or a team database, and the
gateway keys) and spend-members.png (spend per team member and per app) into
packaging/screenshots/. Uses a temporary data dir and
settings; touches nothing else.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPolygonF
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from keyring.backends import fail  # noqa: E402

from app.main_window import AppContext, MainWindow  # noqa: E402
from app.runtime.engine_bridge import EngineBridge  # noqa: E402
from app.runtime.settings_store import open_settings  # noqa: E402
from core.accounting.prices import cost_of  # noqa: E402
from core.config import parse_config  # noqa: E402
from core.engine import Engine  # noqa: E402
from core.keys import KeyStore  # noqa: E402
from core.types import Message, RequestRecord, Tool, Usage  # noqa: E402

OUT = ROOT / "packaging" / "screenshots"
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
PROMPTS = (
    "What is a token?",
    "Summarise the plot of Hamlet in two sentences.",
    "Step by step, compare quicksort and mergesort and write Python code for both.",
    "Translate 'good morning' into French.",
    "Explain how a semantic cache decides two prompts are the same, with examples.",
    "Design a database schema for a library, then write the SQL and explain each index.",
    "What is the capital of Australia?",
    "Why is the sky blue?",
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
                prompt=rng.choice(PROMPTS),
                response="(sample)",
                member=MEMBERS[i % len(MEMBERS)],
                app="support-bot" if i % 4 == 0 else None,
            )
        )
    return out


def settle(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="centwise-shots-") as tmp:
        engine = Engine.open(parse_config(CONFIG, "screenshots.toml"), Path(tmp) / "data")
        engine.ledger.record_many(past_records(engine, 32, days=20))
        engine.create_gateway_key("support-bot", daily_usd=Decimal("2"))
        bridge = EngineBridge(engine)
        try:
            for i, prompt in enumerate(PROMPTS):
                model = ("auto", "fast", "balanced", "premium")[i % 4]
                future = bridge.run(engine.ask(prompt, model=model).collect())
                assert future is not None
                future.result(30)
            context = AppContext(
                bridge, Path(tmp) / "config.toml", KeyStore(fail.Keyring(), environ={})
            )
            window = MainWindow(context, open_settings(Path(tmp) / "qt"))
            window.resize(1280, 820)
            window.show()
            shoot_all(app, window)
            shoot_tools(app, window, Path(tmp))
            shoot_provider_cache(app, window)
            window.close()
            window.deleteLater()
            settle(app, 0.2)
        finally:
            bridge.shutdown(close_engine=True)
    return 0


def shoot_all(app: QApplication, window: MainWindow) -> None:
    playground = window.view("playground")
    window.show_view("playground")
    playground.prompt.setPlainText(
        "Step by step, explain how prompt caching lowers the cost of a chat app, "
        "and give a short Python example."
    )
    playground.system.setPlainText("You are a concise senior engineer.")
    settle(app, 0.6)
    playground.send()
    settle(app, 3.0)
    window.show_view("dashboard")
    settle(app, 1.5)
    history = window.view("history")
    window.show_view("history")
    settle(app, 1.0)
    history.table.selectRow(0)
    settle(app, 0.8)
    window.show_view("cache")
    settle(app, 1.5)
    cache = window.view("cache")
    cache.tuner.run(ROOT / "resources" / "cache_pairs_dev.jsonl")
    deadline = time.monotonic() + 120
    while cache.tuner.report is None and time.monotonic() < deadline:
        settle(app, 0.2)
    for key in ("playground", "dashboard", "history", "cache", "settings"):
        window.show_view(key)
        settle(app, 0.8)
        save(window, key)
    settings = window.view("settings")
    for index, name in ((1, "settings-routing"), (2, "settings-budgets"), (3, "settings-cache")):
        settings.tabs.setCurrentIndex(index)
        settle(app, 0.5)
        save(window, name)
    window.show_view("cache")
    settle(app, 0.5)
    cache.tuner.grab().save(str(OUT / "cache-tuner.png"))
    print(f"wrote {OUT / 'cache-tuner.png'}")
    shoot_storage(app, window)
    shoot_whatif(app, window)
    shoot_compare(app, window)
    shoot_conversation(app, window)


def shoot_storage(app: QApplication, window: MainWindow) -> None:
    """Settings → Storage with a team database URL typed but not tested yet (Save
    waits for the test), then spend per member and per app."""
    settings = window.view("settings")
    window.show_view("settings")
    settings.tabs.setCurrentWidget(settings.storage)
    settings.storage.team_choice.setChecked(True)
    settings.storage.url_field.setText("postgresql://alice@db.internal:5432/centwise")
    settle(app, 0.8)
    save(window, "settings-storage")
    settings.load(window.bridge.engine.config)
    settings.tabs.setCurrentIndex(0)
    dashboard = window.view("dashboard")
    window.show_view("dashboard")
    dashboard.bottom_tabs.setCurrentWidget(dashboard.people_tab)
    settle(app, 0.8)
    save(window, "spend-members")
    dashboard.bottom_tabs.setCurrentIndex(0)


def shoot_whatif(app: QApplication, window: MainWindow) -> None:
    """The sample history replayed under a copy: premium on a cheaper model, a daily cap."""
    whatif = window.view("whatif")
    window.show_view("whatif")
    tiers = whatif.editor.tiers
    for row in range(tiers.table.rowCount()):
        if tiers.cells(row)[0] == "premium":
            tiers.set_cell(row, 2, "gpt-4.1-mini")
    whatif.editor.budget_form.widget("daily_usd").setText("0.0005")
    whatif.editor.budget_form.widget("hard_limit").setChecked(True)
    whatif.editor.tabs.setCurrentIndex(0)
    whatif.since_combo.setCurrentIndex(2)  # all history
    whatif.run_replay()
    deadline = time.monotonic() + 60
    while whatif.report is None and time.monotonic() < deadline:
        settle(app, 0.2)
    settle(app, 0.5)
    save(window, "whatif")


def shoot_compare(app: QApplication, window: MainWindow) -> None:
    """Three tiers side by side, judged."""
    compare = window.view("compare")
    window.show_view("compare")
    compare.prompt.setPlainText("Explain in three sentences why caching LLM answers saves money.")
    compare.judge.setChecked(True)
    compare.run()
    deadline = time.monotonic() + 60
    while compare.running and time.monotonic() < deadline:
        settle(app, 0.2)
    winner = next((c for c in compare.active_columns() if not c.winner_label.isHidden()), None)
    if winner is not None:
        winner.pick_button.click()
    settle(app, 0.8)
    save(window, "compare")


def shoot_conversation(app: QApplication, window: MainWindow) -> None:
    """Conversation mode after three turns: the turns, the context badge, a thumbs up."""
    playground = window.view("playground")
    window.show_view("playground")
    playground.system.clear()
    playground.model.setCurrentText("balanced")
    playground.conversation_mode.setChecked(True)
    for prompt in (
        "I run a support chatbot that answers 20,000 questions a day. What drives its cost?",
        "Which of those can a semantic cache cut, and by how much?",
        "And how does trimming the conversation history help on top of that?",
    ):
        playground.prompt.setPlainText(prompt)
        playground.send()
        deadline = time.monotonic() + 30
        while playground.running and time.monotonic() < deadline:
            settle(app, 0.1)
        settle(app, 0.4)
    playground.feedback.up_button.click()
    settle(app, 0.8)
    save(window, "conversation")
    # Again, now that votes and context savings are in: the quality and savings tables.
    window.show_view("dashboard")
    settle(app, 1.5)
    save(window, "dashboard")


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


def shoot_tools(app: QApplication, window: MainWindow, tmp: Path) -> None:
    """The Playground with two tools and a photo: the model's call of get_weather as a
    card, its result typed in, and the image's thumbnail with its size and tokens."""
    playground = window.view("playground")
    window.show_view("playground")
    playground.conversation_mode.setChecked(False)
    playground.system.clear()
    playground.model.setCurrentText("balanced")
    extras = playground.extras
    extras.tools.insert_example()
    extras.images.add_paths([str(sample_photo(tmp / "harbour.png"))])
    deadline = time.monotonic() + 10
    while (
        extras.tools.choice.count() < 5 or extras.images.loading
    ) and time.monotonic() < deadline:
        settle(app, 0.1)
    extras.tools.choice.setCurrentIndex(extras.tools.choice.findData("tool:get_weather"))
    playground.prompt.setPlainText(
        "What is the weather like in Lisbon today? Is it as sunny as in this photo?"
    )
    settle(app, 0.6)
    playground.send()
    deadline = time.monotonic() + 30
    while playground.running and time.monotonic() < deadline:
        settle(app, 0.1)
    for card in playground.tool_calls.cards:
        if card.result is not None:
            card.result.setPlainText('{"temperature_c": 21, "conditions": "sunny", "wind_kmh": 12}')
    extras.show_tab(extras.images)
    settle(app, 0.8)
    save(window, "playground-tools")
    # Continue with the result, then the first request in History: its tools, image
    # and tool call in words beside the JSON.
    playground.tool_calls.continue_button.click()
    deadline = time.monotonic() + 30
    while playground.running and time.monotonic() < deadline:
        settle(app, 0.1)
    history = window.view("history")
    window.show_view("history")
    settle(app, 1.0)
    history.table.selectRow(1)
    settle(app, 0.8)
    save(window, "history-tools")


#: Where a sample prefix changed: (cause, part, index, offset, before, after).
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


def shoot_provider_cache(app: QApplication, window: MainWindow) -> None:
    """The Provider cache panel after real requests, then the request whose system
    prompt changed in History: the cause, where, was/now and what it cost."""
    prompt_cache_requests(window.bridge)
    wanted = next(
        r.request_id
        for r in window.bridge.engine.history(0, 50)
        if r.prompt_cache_break == "system_changed"
    )
    dashboard = window.view("dashboard")
    window.show_view("dashboard")
    dashboard.bottom_tabs.setCurrentWidget(dashboard.provider_cache)
    dashboard.on_ledger_changed()
    settle(app, 1.5)
    save(window, "spend-provider-cache")
    dashboard.bottom_tabs.setCurrentIndex(0)
    history = window.view("history")
    window.show_view("history")
    history.on_ledger_changed()
    settle(app, 1.0)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = range(history.model.rowCount())
        found = [r for r in rows if getattr(history.model.record_at(r), "request_id", "") == wanted]
        if found:
            history.table.selectRow(found[0])
            break
        settle(app, 0.2)
    settle(app, 0.8)
    save(window, "history-prompt-cache")


def save(window: MainWindow, name: str) -> None:
    path = OUT / f"{name}.png"
    window.grab().save(str(path))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
