"""At 150 % and 200 % scaling the window fits a 1920×1080 screen and the list of views
cuts no title short.

``QT_SCALE_FACTOR`` is read once, when the QApplication starts, so each factor runs in
a child process (the code below, run with ``python -c``) that builds the main window
over a Simulator engine, shows every view, and prints what it measured as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

ROOT = Path(__file__).resolve().parents[2]
SCREEN = (1920, 1080)
TITLE_BAR = 20  # logical pixels the window manager's title bar takes

CHILD = r"""
import json, sys
from pathlib import Path

from keyring.backends import fail
from PySide6.QtWidgets import QApplication, QStyle

from app.main_window import KEYS, AppContext, MainWindow
from app.runtime.engine_bridge import EngineBridge
from app.runtime.settings_store import open_settings
from app.widgets.theme import theme_manager
from core.config import parse_config
from core.engine import Engine
from core.keys import KeyStore

app = QApplication([])
theme_manager().set_mode("light")
tmp = Path(sys.argv[1])
config = parse_config('[providers.simulator]\nkind = "simulator"\nlatency_scale = 0\n', "t.toml")
bridge = EngineBridge(Engine.open(config, tmp / "data"))
keys = KeyStore(fail.Keyring(), environ={})
window = MainWindow(AppContext(bridge, tmp / "config.toml", keys), open_settings(tmp / "qt"))
window.show()
views = {}
for key in KEYS:
    window.show_view(key)
    app.processEvents()
    hint = window.view(key).minimumSizeHint()
    views[key] = [hint.width(), hint.height()]
hint = window.minimumSizeHint()
window.resize(int(sys.argv[2]), int(sys.argv[3]))  # the screen's room at this factor
scrolls = {}
for key in KEYS:
    window.show_view(key)
    app.processEvents()
    page = window.stack.currentWidget()
    bars = (page.horizontalScrollBar(), page.verticalScrollBar())
    scrolls[key] = [bar.maximum() for bar in bars]
nav = window.nav
style = nav.style()
margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, nav) + 1
print(json.dumps({
    "dpr": window.devicePixelRatio(),
    "minimum": [hint.width(), hint.height()],
    "banner": window.simulator_banner.isVisible(),
    "views": views,
    "scrolls": scrolls,
    "size": [window.width(), window.height()],
    "nav_viewport": nav.viewport().width(),
    "nav_item": nav.sizeHintForColumn(0),
    "icon": nav.iconSize().width(),
    "margin": margin,
    "texts": {nav.item(r).text(): nav.fontMetrics().horizontalAdvance(nav.item(r).text())
              for r in range(nav.count())},
}))
window.close()
bridge.shutdown(close_engine=True)
"""


def _measure(factor: float, room: tuple[int, int], tmp: Path) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": str(factor)}
    env.pop("QT_SCREEN_SCALE_FACTORS", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp), *map(str, room)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("factor", [1.5, 2.0])
def test_the_window_fits_the_screen_at_high_scale(tmp_path, factor):
    room = (int(SCREEN[0] / factor), int(SCREEN[1] / factor) - TITLE_BAR)
    got = _measure(factor, room, tmp_path)
    assert got["dpr"] == pytest.approx(factor)
    assert got["banner"]  # measured with the Simulator banner showing
    width, height = got["minimum"]
    assert width <= room[0] and height <= room[1], (got["minimum"], room, got["views"])
    assert got["size"] == list(room)
    # In a window that fills the screen, every title fits beside its icon: none is elided.
    assert got["nav_item"] <= got["nav_viewport"]
    for title, text_width in got["texts"].items():
        needed = text_width + got["icon"] + 4 * got["margin"]
        assert needed <= got["nav_viewport"], (title, needed, got["nav_viewport"])
