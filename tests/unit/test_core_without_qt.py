"""The engine and the CLI work on a machine with no Qt at all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import importlib, importlib.abc, pkgutil, sys

class NoQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6", "app"):
            raise ImportError(f"{name} is blocked: the engine must not need it")
        return None

sys.meta_path.insert(0, NoQt())
import core
for mod in pkgutil.walk_packages(core.__path__, "core."):
    importlib.import_module(mod.name)
from core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_core_imports_and_answers_without_qt(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[providers.simulator]\nkind = "simulator"\nlatency_scale = 0\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            "--config",
            str(cfg),
            "--data-dir",
            str(tmp_path / "d"),
            "ask",
            "hello without Qt",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "ok"
    assert "PySide6" not in proc.stderr
