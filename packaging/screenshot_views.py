"""Drives a main window over the sample data and grabs each view, for ``screenshots.py``.

:class:`Shooter` settles the event loop, checks the texts on show and writes each grab
under its name in the variant being rendered; :func:`shoot` builds a fresh install's
window and then the sample's, and walks every view.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from keyring.backends import fail
from PySide6.QtWidgets import QApplication, QWidget
from screenshot_checks import TextProblem, find_text_problems, summarize
from screenshot_sample import (
    CONFIG,
    PROMPTS,
    past_records,
    prompt_cache_requests,
    sample_photo,
    tiny_record,
)

from app.main_window import AppContext, MainWindow
from app.runtime.engine_bridge import EngineBridge
from app.runtime.settings_store import open_settings
from core.config import parse_config
from core.engine import Engine
from core.keys import KeyStore

__all__ = ["EMPTY_NAMES", "MAIN_VIEWS", "NAMES", "SCALED_NAMES", "Shooter", "file_name", "shoot"]

DEV_PAIRS = Path(__file__).resolve().parent.parent / "resources" / "cache_pairs_dev.jsonl"
WINDOW_SIZE = (1280, 820)  # logical pixels, in every variant
MAIN_VIEWS = ("playground", "compare", "dashboard", "history", "cache", "whatif", "settings")
EMPTY_NAMES = ("empty-spend", "empty-history", "empty-cache")
NAMES = (
    *MAIN_VIEWS,
    "conversation",
    "playground-tools",
    "spend-provider-cache",
    "spend-members",
    "history-tools",
    "history-prompt-cache",
    "cache-tuner",
    "settings-routing",
    "settings-budgets",
    "settings-cache",
    "settings-storage",
    "settings-appearance",
    "shortcuts",
    *EMPTY_NAMES,
)
#: What a scale other than 100% shoots unless ``--only`` says otherwise (keeps the repo small).
SCALED_NAMES = (*MAIN_VIEWS, "empty-spend")


def file_name(name: str, theme: str, scale: str) -> str:
    """``playground.png``, ``playground-dark.png``, ``playground@2x.png``."""
    dark = "-dark" if theme == "dark" else ""
    at = "" if float(scale) == 1 else f"@{scale}x"
    return f"{name}{dark}{at}.png"


@dataclass
class Shooter:
    """Settles the event loop, checks a widget's texts and saves its grab under its name."""

    app: QApplication
    out: Path
    theme: str
    scale: str
    wanted: frozenset[str]
    write: bool = True
    findings: dict[str, list[TextProblem]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def settle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.02)

    def wants(self, *names: str) -> bool:
        return any(n in self.wanted for n in names)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"note: {text}")

    def save(self, widget: QWidget, name: str) -> None:
        """Check ``widget``'s texts, then write its grab as ``name`` in this variant."""
        if name not in self.wanted:
            return
        problems = find_text_problems(widget)
        self.findings[name] = problems
        found = f", {len(problems)} text finding(s)" if problems else ""
        if not self.write:
            print(f"checked {name}{found}")
            return
        pixmap = widget.grab()
        path = self.out / file_name(name, self.theme, self.scale)
        pixmap.save(str(path))
        print(f"wrote {path} ({pixmap.width()}×{pixmap.height()} px{found})")
        scale = float(self.scale)
        want = (round(widget.width() * scale), round(widget.height() * scale))
        if (pixmap.width(), pixmap.height()) != want:
            self.note(
                f"{name} is {pixmap.width()}×{pixmap.height()} px, not {want[0]}×{want[1]}"
                f" ({widget.width()}×{widget.height()} logical at {self.scale}×)"
            )
            self.findings[name] = [*problems, TextProblem(name, "", "wrong pixel size")]

    def summary(self) -> int:
        """Print one line per screenshot; the exit status (1 when anything was found)."""
        print(f"\n== {self.theme} at {self.scale}×: text check")
        for name, problems in self.findings.items():
            print(f"{name:22} {f'{len(problems)} finding(s)' if problems else 'ok'}")
            for line in summarize(problems):
                print(f"    {line}")
        for name in sorted(self.wanted - set(self.findings)):
            print(f"{name:22} not shot")
        for text in self.notes:
            print(f"note: {text}")
        bad = sum(1 for problems in self.findings.values() if problems)
        print(f"{len(self.findings)} shot, {bad} with findings")
        return 1 if bad else 0


def build_window(tmp: Path, bridge: EngineBridge, name: str) -> MainWindow:
    context = AppContext(bridge, tmp / f"{name}.toml", KeyStore(fail.Keyring(), environ={}))
    window = MainWindow(context, open_settings(tmp / f"qt-{name}"))
    window.resize(*WINDOW_SIZE)
    window.show()
    return window


def close_window(shot: Shooter, window: MainWindow) -> None:
    window.close()
    window.deleteLater()
    shot.settle(0.2)


def shoot(shot: Shooter) -> None:
    """Every screenshot this run wants: a fresh install, then the sample data."""
    with tempfile.TemporaryDirectory(prefix="centwise-shots-") as name:
        tmp = Path(name)
        if shot.wants(*EMPTY_NAMES):
            shoot_fresh_install(shot, tmp)
        if shot.wants(*(set(NAMES) - set(EMPTY_NAMES))):
            shoot_sample(shot, tmp)


def shoot_fresh_install(shot: Shooter, tmp: Path) -> None:
    """Spend, History and Cache over an empty engine and data dir, before any request."""
    engine = Engine.open(parse_config(CONFIG, "fresh.toml"), tmp / "fresh-data")
    bridge = EngineBridge(engine)
    try:
        window = build_window(tmp, bridge, "fresh")
        for key, name in (("dashboard", "empty-spend"), ("history", "empty-history")):
            window.show_view(key)
            shot.settle(1.2)
            shot.save(window, name)
        window.show_view("cache")
        shot.settle(1.2)
        shot.save(window, "empty-cache")
        close_window(shot, window)
    finally:
        bridge.shutdown(close_engine=True)


def shoot_sample(shot: Shooter, tmp: Path) -> None:
    engine = Engine.open(parse_config(CONFIG, "screenshots.toml"), tmp / "data")
    engine.ledger.record_many([*past_records(engine, 32, days=20), tiny_record(engine)])
    engine.create_gateway_key("support-bot", daily_usd=Decimal("2"))
    bridge = EngineBridge(engine)
    try:
        for prompt, model in PROMPTS:
            future = bridge.run(engine.ask(prompt, model=model).collect())
            assert future is not None
            future.result(30)
        window = build_window(tmp, bridge, "sample")
        shoot_main_views(shot, window)
        shoot_settings(shot, window)
        shoot_storage(shot, window)
        shoot_whatif(shot, window)
        shoot_compare(shot, window)
        shoot_conversation(shot, window)
        shoot_tools(shot, window, tmp)
        shoot_provider_cache(shot, window)
        shoot_shortcuts(shot, window)
        close_window(shot, window)
    finally:
        bridge.shutdown(close_engine=True)


def wait_until(shot: Shooter, done: Callable[[], bool], seconds: float, step: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        shot.settle(step)


def shoot_main_views(shot: Shooter, window: MainWindow) -> None:
    """A Playground answer (its badges: a sub-cent cost), History with it selected, the
    Cache after the tuner ran. The Spend view is shot later, with votes and context in."""
    playground = window.view("playground")
    window.show_view("playground")
    playground.prompt.setPlainText(
        "Step by step, explain how prompt caching lowers the cost of a chat app, "
        "and give a short Python example."
    )
    playground.system.setPlainText("You are a concise senior engineer.")
    shot.settle(0.6)
    playground.send()
    shot.settle(3.0)
    window.show_view("dashboard")
    shot.settle(1.5)
    history = window.view("history")
    window.show_view("history")
    shot.settle(1.0)
    history.table.selectRow(0)
    shot.settle(0.8)
    window.show_view("cache")
    shot.settle(1.5)
    cache = window.view("cache")
    cache.tuner.run(DEV_PAIRS)
    wait_until(shot, lambda: cache.tuner.report is not None, 120)
    for key in ("playground", "history", "cache", "settings"):
        window.show_view(key)
        shot.settle(0.8)
        shot.save(window, key)
    window.show_view("cache")
    shot.settle(0.5)
    shot.save(cache.tuner, "cache-tuner")


def shoot_settings(shot: Shooter, window: MainWindow) -> None:
    """The Routing, Budgets and Cache tabs, and Appearance where the app has it."""
    settings = window.view("settings")
    window.show_view("settings")
    tabs = settings.tabs
    for index, name in ((1, "settings-routing"), (2, "settings-budgets"), (3, "settings-cache")):
        tabs.setCurrentIndex(index)
        shot.settle(0.5)
        shot.save(window, name)
    titles = [tabs.tabText(i).replace("&&", "&") for i in range(tabs.count())]
    if "Appearance" in titles:
        tabs.setCurrentIndex(titles.index("Appearance"))
        shot.settle(0.5)
        shot.save(window, "settings-appearance")
    elif shot.wants("settings-appearance"):
        shot.note(f"settings-appearance skipped: no Appearance tab in Settings ({titles})")
    tabs.setCurrentIndex(0)


def shoot_storage(shot: Shooter, window: MainWindow) -> None:
    """Settings → Storage with a team database URL typed but not tested yet (Save
    waits for the test), then spend per member and per app."""
    settings = window.view("settings")
    window.show_view("settings")
    settings.tabs.setCurrentWidget(settings.storage)
    settings.storage.team_choice.setChecked(True)
    settings.storage.url_field.setText("postgresql://alice@db.internal:5432/centwise")
    shot.settle(0.8)
    shot.save(window, "settings-storage")
    settings.load(window.bridge.engine.config)
    settings.tabs.setCurrentIndex(0)
    dashboard = window.view("dashboard")
    window.show_view("dashboard")
    dashboard.bottom_tabs.setCurrentWidget(dashboard.people_tab)
    shot.settle(0.8)
    shot.save(window, "spend-members")
    dashboard.bottom_tabs.setCurrentIndex(0)


def shoot_whatif(shot: Shooter, window: MainWindow) -> None:
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
    wait_until(shot, lambda: whatif.report is not None, 60)
    shot.settle(0.5)
    shot.save(window, "whatif")


def shoot_compare(shot: Shooter, window: MainWindow) -> None:
    """Three tiers side by side, judged."""
    compare = window.view("compare")
    window.show_view("compare")
    compare.prompt.setPlainText("Explain in three sentences why caching LLM answers saves money.")
    compare.judge.setChecked(True)
    compare.run()
    wait_until(shot, lambda: not compare.running, 60)
    winner = next((c for c in compare.active_columns() if not c.winner_label.isHidden()), None)
    if winner is not None:
        winner.pick_button.click()
    shot.settle(0.8)
    shot.save(window, "compare")


def send_and_wait(shot: Shooter, playground: QWidget) -> None:
    playground.send()  # type: ignore[attr-defined]
    wait_until(shot, lambda: not playground.running, 30, step=0.1)  # type: ignore[attr-defined]


def shoot_conversation(shot: Shooter, window: MainWindow) -> None:
    """Conversation mode after three turns: the turns, the context badge, a thumbs up;
    then the Spend view, now that votes and context savings are in."""
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
        send_and_wait(shot, playground)
        shot.settle(0.4)
    playground.feedback.up_button.click()
    shot.settle(0.8)
    shot.save(window, "conversation")
    window.show_view("dashboard")
    shot.settle(1.5)
    shot.save(window, "dashboard")


def shoot_tools(shot: Shooter, window: MainWindow, tmp: Path) -> None:
    """The Playground with two tools and a photo: the model's call of get_weather as a
    card, its result typed in, and the image's thumbnail with its size and tokens; then
    that request in History: its tools, image and tool call in words beside the JSON."""
    playground = window.view("playground")
    window.show_view("playground")
    playground.conversation_mode.setChecked(False)
    playground.system.clear()
    playground.model.setCurrentText("balanced")
    extras = playground.extras
    extras.tools.insert_example()
    extras.images.add_paths([str(sample_photo(tmp / "harbour.png"))])
    wait_until(
        shot, lambda: extras.tools.choice.count() >= 5 and not extras.images.loading, 10, 0.1
    )
    extras.tools.choice.setCurrentIndex(extras.tools.choice.findData("tool:get_weather"))
    playground.prompt.setPlainText(
        "What is the weather like in Lisbon today? Is it as sunny as in this photo?"
    )
    shot.settle(0.6)
    send_and_wait(shot, playground)
    for card in playground.tool_calls.cards:
        if card.result is not None:
            card.result.setPlainText('{"temperature_c": 21, "conditions": "sunny", "wind_kmh": 12}')
    extras.show_tab(extras.images)
    shot.settle(0.8)
    shot.save(window, "playground-tools")
    playground.tool_calls.continue_button.click()
    wait_until(shot, lambda: not playground.running, 30, 0.1)
    history = window.view("history")
    window.show_view("history")
    shot.settle(1.0)
    history.table.selectRow(1)
    shot.settle(0.8)
    shot.save(window, "history-tools")


def shoot_provider_cache(shot: Shooter, window: MainWindow) -> None:
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
    shot.settle(1.5)
    shot.save(window, "spend-provider-cache")
    dashboard.bottom_tabs.setCurrentIndex(0)
    history = window.view("history")
    window.show_view("history")
    history.on_ledger_changed()
    shot.settle(1.0)
    model = history.model

    def found() -> int | None:
        rows = range(model.rowCount())
        hits = [r for r in rows if getattr(model.record_at(r), "request_id", "") == wanted]
        return hits[0] if hits else None

    wait_until(shot, lambda: found() is not None, 20)
    row = found()
    if row is not None:
        history.table.selectRow(row)
    shot.settle(0.8)
    shot.save(window, "history-prompt-cache")


def shoot_shortcuts(shot: Shooter, window: MainWindow) -> None:
    """Help → Keyboard shortcuts, the dialog alone."""
    if not shot.wants("shortcuts"):
        return
    try:
        from app.widgets.shortcuts_dialog import KeyboardShortcutsDialog
    except ImportError as exc:
        shot.note(f"shortcuts skipped: no keyboard shortcuts dialog ({exc})")
        return
    dialog = KeyboardShortcutsDialog(window)
    dialog.show()
    shot.settle(0.8)
    shot.save(dialog, "shortcuts")
    dialog.close()
    dialog.deleteLater()
    shot.settle(0.2)
