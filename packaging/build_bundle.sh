#!/usr/bin/env bash
# Build the one-folder desktop bundle: dist/centwise/centwise (the app, and the CLI
# when given a command), then smoke-test it. Needs the gui extras and PyInstaller:
#   pip install -e '.[gui]' pyinstaller
# Usage: bash packaging/build_bundle.sh [--no-check]
set -euo pipefail
cd "$(dirname "$0")/.."
python -m PyInstaller --noconfirm --clean \
    --distpath dist --workpath build/pyinstaller packaging/centwise.spec
bin=dist/centwise/centwise
echo "built $bin ($(du -sh dist/centwise | cut -f1))"
if [[ "${1:-}" != "--no-check" ]]; then
    "$bin" --version
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    CENTWISE_DATA_DIR="$tmp/data" "$bin" ask "What is a token?" --json >"$tmp/out.json"
    python - "$tmp/out.json" <<'PY'
import json, sys
reply = json.loads(open(sys.argv[1]).read())
assert reply["status"] == "ok" and reply["simulated"], reply
print("bundle ok:", reply["tier"], reply["model"], reply["cost_usd"], "USD")
PY
fi
