"""The PyInstaller bundle starts and answers on the Simulator (opt-in: it builds for minutes).

    CENTWISE_BUNDLE_TEST=1 pytest tests/integration/test_bundle.py

Builds with packaging/build_bundle.sh unless dist/centwise/centwise exists and
CENTWISE_BUNDLE_REUSE=1, then runs the bundled binary, never the source tree.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "dist" / "centwise" / "centwise"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("CENTWISE_BUNDLE_TEST") != "1", reason="set CENTWISE_BUNDLE_TEST=1"
    ),
]


@pytest.fixture(scope="module")
def bundle() -> Path:
    if not (BIN.exists() and os.environ.get("CENTWISE_BUNDLE_REUSE") == "1"):
        subprocess.run(
            ["bash", str(ROOT / "packaging" / "build_bundle.sh"), "--no-check"],
            check=True,
            timeout=1800,
        )
    assert BIN.exists()
    return BIN


def test_version(bundle: Path) -> None:
    out = subprocess.run([str(bundle), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("centwise "), out.stderr


def test_ask_twice_on_the_simulator_uses_the_bundled_data(bundle: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CENTWISE_DATA_DIR": str(tmp_path / "data")}
    env.pop("CENTWISE_CONFIG", None)
    replies = []
    for _ in range(2):
        out = subprocess.run(
            [str(bundle), "ask", "What is a token?", "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,  # nothing found through the source tree
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert "warning" not in out.stderr.lower(), out.stderr
        replies.append(json.loads(out.stdout))
    first, second = replies
    assert first["simulated"] and first["status"] == "ok"
    assert first["cost_usd"] is not None  # the bundled price table
    assert first["usage"]["estimated"] is False  # the bundled BPE files
    assert second["cache"]["outcome"] == "exact"  # the bundled cache (MiniLM) answered


def test_the_app_starts_offscreen(bundle: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "CENTWISE_DATA_DIR": str(tmp_path / "data"),
        "CENTWISE_SETTINGS_DIR": str(tmp_path / "qt"),
    }
    proc = subprocess.Popen([str(bundle)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=8)  # still running: the window is up
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    assert "Traceback" not in err, err
