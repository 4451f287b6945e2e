"""``centwise`` with no subcommand: open the desktop app over one engine."""

from __future__ import annotations

import argparse
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.main_window import AppContext, MainWindow
from app.runtime.app_engine import EngineFactory, open_app_engine
from app.runtime.config_file import load_app_config, resolve_config_path
from app.runtime.engine_bridge import EngineBridge
from app.runtime.settings_store import open_settings
from app.settings.appearance import stored_theme_mode
from app.widgets.theme import theme_manager
from core.cli.common import EXIT_USAGE
from core.errors import CentwiseError
from core.keys import KeyStore

__all__ = ["build_window", "run_app"]


def build_window(
    bridge: EngineBridge, args: argparse.Namespace, keys: KeyStore, factory: EngineFactory
) -> MainWindow:
    """The main window for ``bridge``, with settings from ``$CENTWISE_SETTINGS_DIR``."""
    path, _explicit = resolve_config_path(getattr(args, "config", None))
    context = AppContext(bridge, path, keys, factory)
    return MainWindow(context, open_settings(getattr(args, "settings_dir", None)))


def run_app(args: argparse.Namespace) -> int:
    """Run the app until its window closes. ``args`` has .config, .data_dir, .recover.

    QT_QPA_PLATFORM is left as the caller set it (tests use ``offscreen``).
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("Centwise")
    app.setApplicationName("Centwise")
    # Before any widget exists: the window is built once, in its final colours.
    theme_manager().set_mode(stored_theme_mode(open_settings(getattr(args, "settings_dir", None))))
    keys = KeyStore()
    try:
        path, explicit = resolve_config_path(getattr(args, "config", None))
        engine, factory = open_app_engine(args, load_app_config(path, explicit), keys)
    except CentwiseError as e:
        print(f"centwise: {e}", file=sys.stderr)
        return EXIT_USAGE
    bridge = EngineBridge(engine)
    try:
        window = build_window(bridge, args, keys, factory)
        window.show()
        # The tokenizer loads on the engine loop once the window has painted.
        QTimer.singleShot(150, lambda: bridge.call_on_loop(bridge.engine.warm_up))
        code = app.exec()
        window.close()
    finally:
        bridge.shutdown(close_engine=True)
    return int(code)
