"""`centwise` (app.launcher) with no subcommand opens the app and leaves nothing running when it closes."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.launcher import main
from app.main_window import MainWindow


def _close_soon(seen: list[str]) -> None:
    # Quit exactly once: a second quit (after last-window-closed already quit) leaves
    # Qt in a state where later event loops in this process stop delivering events.
    QApplication.instance().setQuitOnLastWindowClosed(False)

    def close() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.isVisible():
                seen.append(widget.windowTitle())
                widget.close()
        QApplication.quit()

    QTimer.singleShot(800, close)


def test_cli_without_command_runs_the_app(qapp, tmp_path, monkeypatch):
    monkeypatch.setenv("CENTWISE_SETTINGS_DIR", str(tmp_path / "qt"))
    seen: list[str] = []
    _close_soon(seen)
    try:
        assert main(["--data-dir", str(tmp_path / "data")]) == 0
    finally:
        qapp.setQuitOnLastWindowClosed(True)
    assert seen and seen[0].startswith("Centwise")
    assert (tmp_path / "qt" / "centwise-app.ini").exists()
    assert not [t for t in threading.enumerate() if t.name.startswith("centwise")]


def test_a_bad_config_is_a_message_not_a_crash(qapp, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[budget]\ndaily_usd = -1\n")
    assert main(["--config", str(bad), "--data-dir", str(tmp_path / "data")]) == 2
    assert "budget.daily_usd" in capsys.readouterr().err
