"""Screenshots of every view over sample data, light and dark and at 200%, for the README.

Everything in one command, under a display big enough for a 200% window (or Xvfb):

    xvfb-run -a -s "-screen 0 2800x1800x24" .venv/bin/python packaging/screenshots.py --all

``--all`` runs this script once per variant, each in its own process (``QT_SCALE_FACTOR``
must be set before the QApplication exists): light at 100%, dark at 100%, light at 200%.
One variant: ``--theme light|dark`` and ``--scale 1|1.5|2``; ``--only NAME[,NAME]`` keeps
some of the files; ``--check`` reads the texts and writes no image; ``--out DIR``.

Files, in packaging/screenshots/ (the window is 1280×820 logical pixels in every variant):

- light 100%: ``NAME.png`` for every name below (``screenshot_views.NAMES``);
- dark 100%: ``NAME-dark.png``, every name too;
- 200%: ``NAME@2x.png`` (``NAME-dark@2x.png`` in dark) at twice the device pixels, only
  for ``screenshot_views.SCALED_NAMES``: the seven main views (playground, compare, dashboard — the
  Spend view —, history, cache, whatif, settings) and empty-spend.

The names: playground, conversation, compare, dashboard, spend-provider-cache (the
Provider cache panel over sample Anthropic, OpenAI and Gemini requests), spend-members
(spend per team member and per app), history, history-tools (a request's tools, image
and tool call), history-prompt-cache (a request whose cache broke), cache, cache-tuner,
whatif, settings (providers and keys), settings-routing, settings-budgets, settings-cache,
settings-storage (this computer or a team database, and the gateway keys),
settings-appearance, playground-tools (a tool-call card and an attached image), shortcuts
(Help → Keyboard shortcuts), and a fresh install before any request: empty-spend,
empty-history, empty-cache. A view or dialog the app does not have yet is skipped with a
note.

Before each grab the texts on show are checked (``screenshot_checks.py``): an amount in
scientific notation or a zero with more than two places is reported, and the run exits 1.
Uses a temporary data dir and settings; touches nothing else.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402
from screenshot_views import NAMES, SCALED_NAMES, Shooter, shoot  # noqa: E402

from app.widgets.theme import theme_manager  # noqa: E402

OUT = ROOT / "packaging" / "screenshots"
THEMES = ("light", "dark")
SCALES = ("1", "1.5", "2")
#: What ``--all`` renders: (theme, scale).
VARIANTS = (("light", "1"), ("dark", "1"), ("light", "2"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--theme", choices=THEMES, default="light")
    parser.add_argument("--scale", choices=SCALES, default="1")
    parser.add_argument("--only", default="", help="NAME[,NAME]: shoot these only")
    parser.add_argument("--all", action="store_true", help="every variant, one process each")
    parser.add_argument("--check", action="store_true", help="check the texts, write no image")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    only = [n for n in args.only.split(",") if n]
    unknown = sorted(set(only) - set(NAMES))
    if unknown:
        parser.error(f"unknown name(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
    args.only = tuple(only)
    return args


def run_all(args: argparse.Namespace) -> int:
    """One child process per variant in :data:`VARIANTS`; 1 if any child failed."""
    status = {}
    for theme, scale in VARIANTS:
        command = [sys.executable, str(Path(__file__).resolve()), "--theme", theme]
        command += ["--scale", scale, "--out", str(args.out)]
        if args.only:
            command += ["--only", ",".join(args.only)]
        if args.check:
            command.append("--check")
        env = {**os.environ, "QT_SCALE_FACTOR": scale}
        print(f"\n===== {theme} at {scale}×: {' '.join(command[1:])}", flush=True)
        status[(theme, scale)] = subprocess.run(command, env=env, check=False).returncode
    print("\n===== variants")
    for (theme, scale), code in status.items():
        print(f"{theme} at {scale}×: {'ok' if code == 0 else f'FAILED (exit {code})'}")
    return 1 if any(status.values()) else 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.all:
        return run_all(args)
    if float(args.scale) != 1:
        os.environ["QT_SCALE_FACTOR"] = args.scale  # before the QApplication exists
    else:
        os.environ.pop("QT_SCALE_FACTOR", None)
    default = NAMES if float(args.scale) == 1 else SCALED_NAMES
    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme_manager().set_mode(args.theme)  # before any window: views read the palette
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = frozenset(args.only or default)
    shot = Shooter(app, args.out, args.theme, args.scale, wanted, write=not args.check)
    shoot(shot)
    return shot.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
