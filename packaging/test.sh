#!/usr/bin/env bash
# Set up, then run every check headless: ruff, mypy on core/, the import contracts,
# and the whole pytest suite (unit, loopback integration, GUI offscreen, keyring).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CENTWISE_VENV:-$ROOT/.venv}
"$ROOT/packaging/setup.sh"
cd "$ROOT"
export QT_QPA_PLATFORM=offscreen
export PYTHONDONTWRITEBYTECODE=1
# A real Secret Service for the keyring tests, in a private session bus.
if command -v gnome-keyring-daemon >/dev/null 2>&1 && command -v dbus-daemon >/dev/null 2>&1; then
  eval "$("$ROOT/packaging/start-keyring.sh")"
  trap '[ -n "${CENTWISE_KEYRING_PIDS:-}" ] && kill $CENTWISE_KEYRING_PIDS 2>/dev/null || true' EXIT
fi
echo "== ruff"
"$VENV/bin/ruff" check core app tests packaging
"$VENV/bin/ruff" format --check core app tests packaging
echo "== mypy core"
"$VENV/bin/mypy" core
echo "== import contracts (core never imports Qt or app; core and app are layered)"
"$VENV/bin/lint-imports"
echo "== pytest"
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
