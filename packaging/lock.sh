#!/usr/bin/env bash
# Refresh packaging/requirements.lock: every dependency of Centwise (with the gui, dev
# and otel extras) and of its build (setuptools, wheel), pinned with sha256 hashes.
# packaging/setup.sh and CI install from that file with --require-hashes.
#
#   bash packaging/lock.sh          # after changing dependencies in pyproject.toml
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# pip-tools runs in a throwaway environment of its own, at a pinned version.
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q pip-tools==7.6.2
cd "$ROOT"
"$tmp/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
  --no-emit-index-url --no-emit-find-links --all-build-deps \
  --extra gui --extra dev --extra otel \
  --output-file packaging/requirements.lock pyproject.toml
echo "lock: packaging/requirements.lock ($(grep -c '==' packaging/requirements.lock) packages)"
