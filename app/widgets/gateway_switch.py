"""The status bar's gateway switch: start and stop the local OpenAI-compatible gateway.

The gateway (:func:`core.gateway.start_gateway`) runs uvicorn in its own thread with its
own engine on the same data directory. Starting waits until it listens and stopping
joins its thread, so both run on a one-thread control pool here, never on the UI
thread; the outcome comes back by queued signal. ``core.gateway`` (uvicorn, Starlette)
is imported only when the gateway is first started, so the app's start-up never pays
for it. The bearer token is shown masked, with a button that copies it.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.widgets.errors import show_error
from core.keys import KeyStore

__all__ = ["GatewaySwitch", "mask_token"]

_COLORS = {
    "off": "#888888",
    "starting": "#e08a14",
    "stopping": "#e08a14",
    "on": "#2ea05a",
    "error": "#dc3c32",
}


def mask_token(token: str) -> str:
    """``cw-`` + dots + the last four characters: enough to tell tokens apart."""
    if len(token) <= 8:
        return "•" * len(token)
    cut = max(token[:6].find("-"), token[:6].find("_"))
    head = token[: cut + 1] if cut >= 0 else ""
    return f"{head}••••••••{token[-4:]}"


class GatewaySwitch(QWidget):
    """A toggle "Gateway: off/on (HOST:PORT)" with a status dot and the masked token.

    ``host``/``port`` default to the config's ``[gateway]`` section (tests pass port
    0 for a free port). ``keys`` gives the key store (for provider keys and the token);
    it is first called on the control thread, so a slow keyring never stalls the UI. ``state_changed(state)`` reports off, starting, on, stopping
    or error.
    """

    state_changed = Signal(str)
    _done = Signal(object, object)  # (server or None, error or None), from the pool

    def __init__(
        self,
        bridge: EngineBridge,
        keys: Callable[[], KeyStore],
        parent: QWidget | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.keys = keys
        self.host = host
        self.port = port
        self.server: Any = None
        self.token = ""
        self.token_note = ""
        self.state = "off"
        self._started: list[Any] = []  # every server the control thread started
        self._closed = False
        self._pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="centwise-gateway-control"
        )
        self._done.connect(self._finished, Qt.ConnectionType.QueuedConnection)

        self.dot = QLabel("●")
        self.toggle = QToolButton()
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.clicked.connect(self._clicked)
        self.token_label = QLabel("")
        self.token_label.setObjectName("gateway_token")
        self.copy_button = QPushButton("Copy token")
        self.copy_button.setToolTip("Copy the gateway's bearer token to the clipboard")
        self.copy_button.clicked.connect(self.copy_token)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.dot, self.toggle, self.token_label, self.copy_button):
            layout.addWidget(widget)
        self._show()

    # -- state -------------------------------------------------------------------

    def address(self) -> str:
        config = self.bridge.engine.config.gateway
        host = self.host or config.host
        if self.server is not None:
            return f"{host}:{self.server.port}"
        return f"{host}:{config.port if self.port is None else self.port}"

    def _set_state(self, state: str, tip: str = "") -> None:
        self.state = state
        self._show(tip)
        self.state_changed.emit(state)

    def _show(self, tip: str = "") -> None:
        texts = {
            "off": "Gateway: off",
            "starting": "Gateway: starting…",
            "stopping": "Gateway: stopping…",
            "on": f"Gateway: on ({self.address()})",
            "error": "Gateway: off (failed)",
        }
        self.toggle.setText(texts[self.state])
        self.toggle.setChecked(self.state in ("on", "starting"))
        self.toggle.setEnabled(self.state not in ("starting", "stopping"))
        self.toggle.setToolTip(tip or "OpenAI-compatible API for other tools, on this machine only")
        self.dot.setStyleSheet(f"color: {_COLORS[self.state]};")
        self.dot.setToolTip(self.state)
        shown = self.state == "on" and bool(self.token)
        self.token_label.setText(f"token {mask_token(self.token)}" if shown else "")
        self.token_label.setToolTip(self.token_note)
        self.token_label.setVisible(shown)
        self.copy_button.setVisible(shown)
        self.copy_button.setText("Copy token")

    # -- start / stop ------------------------------------------------------------

    def _clicked(self, checked: bool) -> None:
        if checked:
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        """Start the gateway on the control thread; ``state_changed("on")`` once it listens."""
        if self._closed or self.server is not None or self.state in ("starting", "stopping"):
            return
        self._set_state("starting")
        engine = self.bridge.engine
        self._pool.submit(self._run, self._start_blocking, engine.config, engine.data_dir)

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish, close the gateway's engine."""
        server, self.server = self.server, None
        if server is not None:
            self._set_state("stopping")
            self._pool.submit(self._run, lambda: server.stop() or None)
        else:
            self._set_state("off")

    def _start_blocking(self, config: Any, data_dir: Any) -> Any:
        from core.gateway import gateway_token, start_gateway

        keys = self.keys()
        token = gateway_token(keys)
        self.token, self.token_note = token.value, token.message

        server = start_gateway(
            config,
            data_dir,
            token.value,
            host=self.host,
            port=self.port,
            key_lookup=keys.lookup_for(config),
        )
        self._started.append(server)
        return server

    def _run(self, fn: Any, *args: Any) -> None:
        # On the control thread: hand the outcome to the UI thread by signal only.
        try:
            self._done.emit(fn(*args), None)
        except Exception as e:  # shown in the tooltip and the window's banner
            self._done.emit(None, e)

    def _finished(self, server: Any, error: BaseException | None) -> None:
        if self._closed:
            return
        if error is not None:
            self._set_state("error", describe_error(error))
            show_error(error, self)
        elif server is not None:
            self.server = server
            self._set_state("on")
        else:
            self._set_state("off")

    def copy_token(self) -> None:
        if self.token:
            QGuiApplication.clipboard().setText(self.token)
            self.copy_button.setText("Copied")

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the gateway and the control thread (on window close; blocks briefly)."""
        self._closed = True
        self.server = None
        self._pool.shutdown(wait=True, cancel_futures=False)
        for server in self._started:  # stopping twice is harmless
            server.stop(timeout)
        self._started.clear()
