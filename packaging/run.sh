#!/usr/bin/env bash
# Quick start: set up, then run Centwise on the offline Simulator (no key needed).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CENTWISE_VENV:-$ROOT/.venv}
"$ROOT/packaging/setup.sh"
if [ "$#" -gt 0 ]; then
  exec "$VENV/bin/centwise" "$@"
fi
if "$VENV/bin/python" -c 'import app.main' 2>/dev/null && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
  exec "$VENV/bin/centwise"
fi
echo "run: asking the Simulator a first question (no key needed)"
"$VENV/bin/centwise" ask "Compare a sliding window with summarisation for long chats, then explain why budgets need reservations."
exec "$VENV/bin/centwise" spend
