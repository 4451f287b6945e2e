"""GUI fixtures: an engine on the Simulator behind a bridge, temp QSettings, no leaks."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from keyring.backends import fail
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from app.main_window import AppContext, MainWindow
from app.runtime.engine_bridge import EngineBridge
from app.runtime.settings_store import open_settings
from app.widgets.design import LIGHT
from app.widgets.theme import ThemeManager
from core.config import parse_config
from core.engine import Engine
from core.keys import KeyStore
from core.types import RequestRecord, Usage
from tests.keyring_service import secret_service, service  # noqa: F401  (fixtures)

SIM = """
[providers.simulator]
kind = "simulator"
latency_scale = {scale}
"""


@pytest.fixture(autouse=True)
def _collect_while_qt_lives() -> Iterator[None]:
    """Collect each test's garbage while the QApplication is alive.

    Left to the interpreter's final collection, PySide6 6.12 wrappers of widgets and
    pyqtgraph items from many tests are freed after Qt has gone and the process can
    abort at exit ("bool_dealloc"/"none_dealloc"), after every test has passed.
    """
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _light_theme_after() -> Iterator[None]:
    """A test that switches the theme (or fakes the OS colour scheme) leaves the app in
    the light theme, so the next test's colours do not depend on the order."""
    yield
    app = QApplication.instance()
    manager = app.findChild(ThemeManager) if app is not None else None
    if manager is None:
        return
    manager.scheme_source = ThemeManager.default_scheme_source
    if manager.applied and (manager.mode != "light" or manager.theme is not LIGHT):
        manager.set_mode("light")


@pytest.fixture(autouse=True)
def _no_modifier_held_after() -> Iterator[None]:
    """A key click whose shortcut fires leaves its modifiers held in Qt's idea of the
    keyboard (offscreen); a later ``selectRow`` would then toggle or extend instead of
    selecting. Release them, as a person lifts their fingers between tests."""
    yield
    if QApplication.instance() is None:
        return  # a test without Qt
    held = QGuiApplication.keyboardModifiers()
    keys = (
        (Qt.KeyboardModifier.ShiftModifier, Qt.Key.Key_Shift),
        (Qt.KeyboardModifier.ControlModifier, Qt.Key.Key_Control),
        (Qt.KeyboardModifier.AltModifier, Qt.Key.Key_Alt),
        (Qt.KeyboardModifier.MetaModifier, Qt.Key.Key_Meta),
    )
    target = QWidget()
    for modifier, key in keys:
        if held & modifier:
            QTest.keyRelease(target, key)
    target.deleteLater()


def _engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("centwise")]


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return open_settings(tmp_path / "qt-settings")


@pytest.fixture
def make_bridge(tmp_path: Path) -> Iterator[Callable[..., EngineBridge]]:
    """Like the root ``make_engine``, wrapped in a bridge that is shut down at teardown."""
    bridges: list[EngineBridge] = []

    def make(extra: str = "", *, latency_scale: float = 0, **kw: object) -> EngineBridge:
        config = parse_config(SIM.format(scale=latency_scale) + extra, "test.toml")
        engine = Engine.open(config, tmp_path / "data", **kw)  # type: ignore[arg-type]
        bridge = EngineBridge(engine)
        bridges.append(bridge)
        return bridge

    yield make
    for bridge in bridges:
        bridge.shutdown(close_engine=True)
    assert not _engine_threads(), "engine threads left running"


def no_keyring() -> KeyStore:
    """A key store that never touches the process's keyring (keys stay in memory)."""
    return KeyStore(fail.Keyring(), environ={})


@pytest.fixture
def make_window(qtbot, settings: QSettings, tmp_path: Path) -> Callable[[EngineBridge], MainWindow]:
    def make(bridge: EngineBridge) -> MainWindow:
        context = AppContext(bridge, tmp_path / "config" / "config.toml", no_keyring())
        window = MainWindow(context, settings, poll_interval_ms=200)
        qtbot.addWidget(window)
        return window

    return make


def sample_records(n: int, *, days: int = 30, now: float | None = None) -> list[RequestRecord]:
    """``n`` finished requests spread over the last ``days`` days, newest last."""
    now = time.time() if now is None else now
    tiers = (("fast", "gpt-4.1-nano"), ("balanced", "gpt-4.1-mini"), ("premium", "gpt-4.1"))
    statuses = ("ok", "ok", "ok", "ok", "error", "refused", "cancelled")
    out = []
    span = days * 86400.0
    for i in range(n):
        tier, model = tiers[i % 3]
        finished = now - span + span * (i + 1) / n - 1
        hit = i % 5 == 0
        out.append(
            RequestRecord(
                request_id=f"req_bulk_{i:07d}",
                started_at=finished - 0.5,
                finished_at=finished,
                provider="simulator",
                model=model,
                tier=tier,
                cache_outcome="exact" if hit else "miss",
                usage=Usage(input_tokens=20 + i % 50, output_tokens=40 + i % 90),
                estimated_input_tokens=20 + i % 50,
                cost_usd=Decimal(0) if hit else Decimal("0.000021") * (1 + i % 3),
                saved_usd=Decimal("0.00002") if hit else Decimal(0),
                latency_ms=500.0,
                status=statuses[i % len(statuses)],
                simulated=True,
                prompt=f"bulk prompt number {i}",
                response=f"bulk answer {i}",
            )
        )
    return out


def png(path: Path, width: int = 640, height: int = 480, color: str = "teal") -> Path:
    """A ``width``×``height`` PNG file at ``path``."""
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(color))
    assert image.save(str(path), "PNG")
    return path


def drop_files(widget: QWidget, paths: list[Path]) -> QDropEvent:
    """Drag ``paths`` onto ``widget`` and drop them, as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    buttons, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, buttons, none)
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, buttons, none)
    QApplication.sendEvent(widget, drop)
    return drop
