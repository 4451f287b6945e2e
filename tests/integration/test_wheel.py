"""``pip install .`` gives a working Centwise: a wheel in a fresh virtual environment.

The wheel is built from a copy of the source tree (what ``pip install .`` and pipx do)
and installed, dependencies and all, into a new venv through pip's usual index and
cache. Every command then runs from a temporary folder, without PYTHONPATH,
CENTWISE_RESOURCES or CENTWISE_CONFIG, so only what the wheel installed can answer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a build reads from the checkout (pyproject.toml names README.md as the readme).
SOURCES = ("pyproject.toml", "README.md", "core", "app", "resources")
# Packages the wheel ships, and the folder each comes from in the source tree.
SHIPPED = {"core": "core", "app": "app", "core/bundled": "resources"}
PROMPT = "What is a token?"
PARAPHRASE = "Can you tell me what a token is?"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("venv") is None or importlib.util.find_spec("ensurepip") is None,
        reason="this Python cannot create virtual environments (no venv or ensurepip module)",
    ),
]


@dataclass(frozen=True)
class Install:
    """A fresh venv with the wheel installed, and the source tree it was built from."""

    venv: Path
    wheel: Path
    source: Path

    def bin(self, name: str) -> str:
        """A program in the venv's ``bin/``."""
        return str(self.venv / "bin" / name)


def _env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without anything that points into the checkout; the
    user's config, data and settings folders under ``home``."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CENTWISE_RESOURCES", "CENTWISE_CONFIG")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        CENTWISE_DATA_DIR=str(home / "data"),
        CENTWISE_SETTINGS_DIR=str(home / "qt"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "share"),
        **extra,
    )
    return env


def _run(cmd: list[str], home: Path, timeout: float, **extra: str) -> str:
    """Run ``cmd`` in ``home``, a folder outside the checkout; its stdout, or a failure
    that shows its output."""
    out = subprocess.run(
        cmd, cwd=home, env=_env(home, **extra), capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"{cmd[0]} {cmd[1:3]} failed:\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
    return out.stdout


def _copy_sources(dest: Path) -> Path:
    """The files a build reads, copied out of the checkout into ``dest``."""
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=junk)
        else:
            shutil.copy2(src, dest / name)
    return dest


def _pip(venv: Path) -> list[str]:
    """The venv's own pip."""
    return [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]


def _new_venv(path: Path, home: Path) -> list[str]:
    """A fresh venv at ``path`` (with its own pip, from ensurepip); its pip command."""
    _run([sys.executable, "-m", "venv", str(path)], home, 120)
    return _pip(path)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what a build reads from the checkout (so no build/ lands in it, and
    files others add meanwhile do not change what the tests compare)."""
    return _copy_sources(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory, source: Path) -> Install:
    """Build the wheel with a new venv's own pip (as ``pip install .`` does), install it."""
    tmp = tmp_path_factory.mktemp("wheel")
    pip = _new_venv(tmp / "venv", tmp)
    _run([*pip, "wheel", "--no-deps", "-w", str(tmp / "dist"), str(source)], tmp, 300)
    (wheel,) = (tmp / "dist").glob("centwise-*.whl")
    _run([*pip, "install", str(wheel)], tmp, 600)
    return Install(tmp / "venv", wheel, source)


def _source_files(folder: Path) -> set[str]:
    """Files under ``folder`` relative to it, as a wheel names them."""
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def test_the_wheel_ships_every_module_and_data_file(install: Install) -> None:
    names = set(zipfile.ZipFile(install.wheel).namelist())
    missing = sorted(
        f"{package}/{name}"
        for package, folder in SHIPPED.items()
        for name in _source_files(install.source / folder)
        if f"{package}/{name}" not in names
    )
    packages = sorted({name.rpartition("/")[0].replace("/", ".") for name in missing})
    assert not missing, f"not in the wheel: {missing}; list {packages} in pyproject.toml"
    assert not [n for n in names if n.startswith("resources/")]  # no top-level package


def test_the_installed_package_is_the_venvs(install: Install, tmp_path: Path) -> None:
    script = (
        "import json, core, app; from core.resources import resource_path; "
        "print(json.dumps([core.__file__, app.__file__, str(resource_path('model_prices.json'))]))"
    )
    paths = json.loads(_run([install.bin("python"), "-c", script], tmp_path, 60))
    site = install.venv / "lib"
    for path in map(Path, paths):
        assert path.is_relative_to(site) and not path.is_relative_to(ROOT), path
    shipped = install.source / "resources" / "model_prices.json"
    assert Path(paths[2]).read_bytes() == shipped.read_bytes()


def _ask(venv: Path, home: Path, prompt: str) -> dict[str, Any]:
    """``centwise ask PROMPT --json`` as a user runs it, on the built-in Simulator."""
    out = _run([str(venv / "bin" / "centwise"), "ask", prompt, "--json"], home, 120)
    reply: dict[str, Any] = json.loads(out)
    assert reply["status"] == "ok" and reply["provider"] == "simulator", reply
    assert reply["warnings"] == [], reply["warnings"]
    return reply


def test_ask_prices_tokenizes_and_caches_from_the_install(install: Install, tmp_path: Path) -> None:
    first = _ask(install.venv, tmp_path, PROMPT)
    assert first["simulated"] and first["cache"]["outcome"] == "miss"
    assert first["cost_usd"] is not None and float(first["cost_usd"]) > 0  # the price table
    assert first["usage"]["estimated"] is False  # the tokenizer's BPE files
    again = _ask(install.venv, tmp_path, PROMPT)
    assert again["cache"]["outcome"] == "exact" and again["cost_usd"] == "0"
    # Only the MiniLM embedding, loaded from its installed package, can match this one.
    paraphrase = _ask(install.venv, tmp_path, PARAPHRASE)
    assert paraphrase["cache"]["outcome"] == "semantic", paraphrase["cache"]
    assert paraphrase["cache"]["matched_request_id"] == first["request_id"]


# Opens the app through its public start-up, looks at the window once it is up, quits.
APP_SCRIPT = """
import argparse, json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
from app.main import run_app

app = QApplication(sys.argv[:1])
seen = {}

def look():
    try:
        windows = [w for w in app.topLevelWidgets() if isinstance(w, QMainWindow)]
        seen.update(
            windows=[w.windowTitle() for w in windows if w.isVisible()],
            icon=[not w.windowIcon().isNull() for w in windows],
        )
    finally:
        app.quit()

QTimer.singleShot(1500, look)
code = run_app(argparse.Namespace(config=None, data_dir=None, recover=False))
print(json.dumps({"code": code, **seen}))
"""


def test_the_gui_extra_opens_the_app(install: Install, tmp_path: Path) -> None:
    _run([*_pip(install.venv), "install", f"{install.wheel}[gui]"], tmp_path, 600)
    app = [install.bin("python"), "-c", APP_SCRIPT]
    out = _run(app, tmp_path, 120, QT_QPA_PLATFORM="offscreen")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["code"] == 0
    assert len(result["windows"]) == 1 and "Centwise" in result["windows"][0]
    assert result["icon"] == [True]  # the icon files came from the install


def _wheel_names(wheel: Path) -> set[str]:
    """What a wheel installs, without its metadata folder."""
    return {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}


def test_the_sdist_carries_the_data_into_its_wheel(install: Install, tmp_path: Path) -> None:
    """``python -m build``: an sdist, then a wheel from it, as an index would serve it."""
    _run([*_pip(install.venv), "install", "build"], tmp_path, 300)
    dist = tmp_path / "dist"
    _run(
        [install.bin("python"), "-m", "build", "-o", str(dist), str(install.source)], tmp_path, 300
    )
    (sdist,) = dist.glob("centwise-*.tar.gz")
    (wheel,) = dist.glob("centwise-*.whl")
    with tarfile.open(sdist) as tar:
        assert any(n.endswith("/resources/model_prices.json") for n in tar.getnames())
    assert _wheel_names(wheel) == _wheel_names(install.wheel)


def test_an_editable_install_reads_the_source_tree(tmp_path: Path, source: Path) -> None:
    """``pip install -e .`` as packaging/setup.sh does: the data is the tree's resources/."""
    venv = tmp_path / "venv"
    _run([*_new_venv(venv, tmp_path), "install", "-e", str(source)], tmp_path, 600)
    script = "from core.resources import resource_path; print(resource_path('icons/centwise.svg'))"
    shown = _run([str(venv / "bin" / "python"), "-c", script], tmp_path, 60).strip()
    assert Path(shown) == source / "resources" / "icons" / "centwise.svg"
    reply = _ask(venv, tmp_path, PROMPT)
    assert reply["cost_usd"] is not None and reply["usage"]["estimated"] is False
