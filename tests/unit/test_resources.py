"""Bundled files come from the ``core.bundled`` package, wherever ``core`` is imported from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.resources import RESOURCES_ENV, resource_path

ROOT = Path(__file__).resolve().parents[2]

# Imports core from the zip given as argv[1] and shows where two resources landed.
ZIP_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import core
from core.resources import resource_path
prices, missing = resource_path("model_prices.json"), resource_path("no-such-file.json")
print(json.dumps({
    "core": core.__file__, "prices": str(prices), "bytes": prices.read_bytes().hex(),
    "again": str(resource_path("model_prices.json")), "missing": missing.exists(),
}))
"""


def test_the_environment_variable_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(RESOURCES_ENV, str(tmp_path))
    assert resource_path("icons/centwise.svg") == tmp_path / "icons" / "centwise.svg"


def test_the_bundled_package_holds_the_resources_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESOURCES_ENV, raising=False)
    for name in ("model_prices.json", "default_config.toml", "icons/centwise-256.png"):
        path = resource_path(name)
        assert path.is_file() and path.read_bytes() == (ROOT / "resources" / name).read_bytes()
    assert not resource_path("no-such-file.json").exists()


def _zip_install(archive: Path) -> None:
    """``core`` with its bundled data at ``core/bundled``, as a wheel lays them out."""
    with zipfile.ZipFile(archive, "w") as zf:
        for package, folder in (("core", ROOT / "core"), ("core/bundled", ROOT / "resources")):
            for path in folder.rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts:
                    zf.write(path, f"{package}/{path.relative_to(folder).as_posix()}")


def test_a_zip_import_gets_a_temporary_copy_that_goes_at_exit(tmp_path: Path) -> None:
    archive = tmp_path / "centwise.zip"
    _zip_install(archive)
    env = {k: v for k, v in os.environ.items() if k != RESOURCES_ENV}
    out = subprocess.run(
        [sys.executable, "-c", ZIP_SCRIPT, str(archive)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["core"].startswith(str(archive))
    assert bytes.fromhex(seen["bytes"]) == (ROOT / "resources" / "model_prices.json").read_bytes()
    assert seen["again"] == seen["prices"]  # extracted once per process
    assert not seen["missing"]
    assert not Path(seen["prices"]).exists()  # removed when the process ended
