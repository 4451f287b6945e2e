"""The status bar's gateway switch: starts off the UI thread, answers with the token,
stops cleanly (connection refused after), and leaves no thread behind."""

from __future__ import annotations

import threading

import httpx
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("uvicorn")

from app.widgets.gateway_switch import GatewaySwitch, mask_token
from tests.gui.conftest import no_keyring


def _gateway_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("centwise-gateway")]


def _get(url: str, token: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=5.0) as client:
        return client.get(url, headers={"Authorization": f"Bearer {token}"})


def test_toggle_on_serves_models_and_off_refuses(qtbot, make_bridge):
    bridge = make_bridge()
    switch = GatewaySwitch(bridge, no_keyring, host="127.0.0.1", port=0)
    qtbot.addWidget(switch)
    switch.show()
    assert switch.toggle.text() == "Gateway: off"
    try:
        with qtbot.waitSignal(switch.state_changed, check_params_cb=lambda s: s == "on"):
            switch.toggle.click()
        port = switch.server.port
        assert switch.toggle.text() == f"Gateway: on (127.0.0.1:{port})"
        assert switch.token and switch.token not in switch.token_label.text()
        assert switch.token[-4:] in switch.token_label.text()
        assert switch.copy_button.isVisible()

        url = f"http://127.0.0.1:{port}/v1/models"
        response = _get(url, switch.token)
        assert response.status_code == 200
        assert response.json()["object"] == "list"
        assert _get(url, "wrong").status_code == 401

        switch.copy_token()
        from PySide6.QtGui import QGuiApplication

        assert QGuiApplication.clipboard().text() == switch.token

        with qtbot.waitSignal(switch.state_changed, check_params_cb=lambda s: s == "off"):
            switch.toggle.click()
        assert switch.toggle.text() == "Gateway: off"
        assert not switch.copy_button.isVisible()
        with pytest.raises(httpx.ConnectError):
            _get(url, switch.token)
    finally:
        switch.shutdown()
    assert not [t for t in _gateway_threads() if t.is_alive()]


def test_shutdown_stops_a_running_gateway(qtbot, make_bridge):
    bridge = make_bridge()
    switch = GatewaySwitch(bridge, no_keyring, host="127.0.0.1", port=0)
    qtbot.addWidget(switch)
    with qtbot.waitSignal(switch.state_changed, check_params_cb=lambda s: s == "on"):
        switch.start()
    url = f"http://127.0.0.1:{switch.server.port}/v1/models"
    switch.shutdown()  # what closing the window does
    assert not [t for t in _gateway_threads() if t.is_alive()]
    with pytest.raises(httpx.ConnectError):
        _get(url, switch.token)


def test_a_port_in_use_shows_an_error(qtbot, make_bridge):
    bridge = make_bridge()
    first = GatewaySwitch(bridge, no_keyring, host="127.0.0.1", port=0)
    qtbot.addWidget(first)
    with qtbot.waitSignal(first.state_changed, check_params_cb=lambda s: s == "on"):
        first.start()
    second = GatewaySwitch(bridge, no_keyring, host="127.0.0.1", port=first.server.port)
    qtbot.addWidget(second)
    try:
        with qtbot.waitSignal(second.state_changed, check_params_cb=lambda s: s == "error"):
            second.start()
        assert second.toggle.text() == "Gateway: off (failed)"
        assert not second.toggle.isChecked()
    finally:
        second.shutdown()
        first.shutdown()


def test_mask_token_keeps_only_the_prefix_and_last_four():
    assert mask_token("cw-abcdefghijklmnop") == "cw-••••••••mnop"
    assert mask_token("short") == "•••••"


def test_main_window_has_the_switch_and_stops_it_on_close(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    assert window.gateway.toggle.text() == "Gateway: off"
    window.close()
    assert not _gateway_threads()
