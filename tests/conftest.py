"""Shared fixtures: an isolated data dir and an engine on an instant Simulator."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from core.config import CentwiseConfig, parse_config
from core.engine import Engine
from tests.pg_server import PgServer

INSTANT_SIM = """
[providers.simulator]
kind = "simulator"
latency_scale = 0
"""


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the user's real config, data or keys."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("CENTWISE_CONFIG", raising=False)
    monkeypatch.delenv("CENTWISE_DATA_DIR", raising=False)
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def make_config() -> Callable[[str], CentwiseConfig]:
    def make(extra: str = "") -> CentwiseConfig:
        return parse_config(INSTANT_SIM + extra, "test.toml")

    return make


@pytest.fixture
async def make_engine(tmp_path: Path) -> AsyncIterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def make(extra: str = "", *, cache: bool = False, **kw: object) -> Engine:
        """An engine on the instant Simulator; the semantic cache only when asked for."""
        text = INSTANT_SIM + extra
        if not cache and "[cache]" not in extra:
            text += "\n[cache]\nenabled = false\n"
        engine = Engine.open(parse_config(text, "test.toml"), tmp_path / "data", **kw)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL cluster for the session (Debian's postgresql-15, see
    tests/pg_server.py); each test that needs one takes its own database."""
    server = PgServer().init().start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL (password included) of a new empty database on the session's server."""
    return pg_server.create_database()
