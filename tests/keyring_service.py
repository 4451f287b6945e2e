"""A real Secret Service for tests: a private D-Bus bus and gnome-keyring-daemon.

Shared by ``tests/integration/test_keyring_secret_service.py`` and the GUI's Settings
test. The daemons run for the session under a temporary HOME and are stopped at the
end; ``DBUS_SESSION_BUS_ADDRESS`` is set only while each test using ``service`` runs.
Import the fixtures by name into a test module (or a conftest) to use them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection
from keyring.backend import KeyringBackend
from keyring.backends import SecretService as secret_service_backend

__all__ = ["SecretService", "fresh_backend", "secret_service", "service"]

BINARIES = ("dbus-daemon", "gnome-keyring-daemon")
SECRETS_NAME = "org.freedesktop.secrets"


@dataclass(frozen=True)
class SecretService:
    address: str
    home: Path


def _start_bus(env: dict[str, str]) -> tuple[str, int]:
    out = subprocess.run(
        ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.split()
    return out[0], int(out[1])


def _wait_until_ready(daemon: subprocess.Popen[bytes], address: str) -> None:
    """Wait until our daemon owns the Secret Service name (real waiting: a real daemon).

    Asking ``NameHasOwner`` does not start anything; a Secret Service call made too
    early would make the bus auto-start a second, locked gnome-keyring-daemon.
    """
    deadline = time.monotonic() + 10
    with open_dbus_connection(bus=address) as conn:
        while True:
            reply = conn.send_and_get_reply(message_bus.NameHasOwner(SECRETS_NAME))
            if reply.body[0]:
                return
            if daemon.poll() is not None:
                raise RuntimeError(f"gnome-keyring-daemon exited with {daemon.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("gnome-keyring-daemon did not start a Secret Service in 10 s")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretService]:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (apt-get install dbus gnome-keyring)")
    home = tmp_path_factory.mktemp("keyring-home")
    runtime = tmp_path_factory.mktemp("keyring-run")
    runtime.chmod(0o700)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    address, bus_pid = _start_bus(env)
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    # --foreground so this process owns the daemon and can stop it by its pid.
    daemon = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert daemon.stdin is not None
        daemon.stdin.write(b"centwise-test-password")
        daemon.stdin.close()
        _wait_until_ready(daemon, address)
        yield SecretService(address, home)
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        os.kill(bus_pid, 15)


@pytest.fixture
def service(secret_service: SecretService, monkeypatch: pytest.MonkeyPatch) -> SecretService:
    """The session's Secret Service, visible through the environment for this test only."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service.address)
    monkeypatch.setenv("HOME", str(secret_service.home))
    return secret_service


def fresh_backend() -> KeyringBackend:
    return secret_service_backend.Keyring()
