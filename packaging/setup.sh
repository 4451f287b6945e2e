#!/usr/bin/env bash
# Sets up Centwise in a virtual environment (default: .venv at the repo root), from the
# hashed lock file packaging/requirements.lock. Safe to run again. As root on Debian/Ubuntu it installs the missing system
# libraries (Qt's runtime, Xvfb, a Secret Service for the keyring) with apt-get.
#
#   packaging/setup.sh            # app + dev tools
#   CENTWISE_VENV=/path packaging/setup.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CENTWISE_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}

APT_PACKAGES=(
  # Qt (PySide6) offscreen and on X11
  libegl1 libgl1 libfontconfig1 libglib2.0-0 libxkbcommon0 libdbus-1-3
  xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-image0
  # a real OS keyring for tests and first use (Secret Service)
  gnome-keyring dbus dbus-x11
  # screenshots
  imagemagick
  # team mode's tests start a real PostgreSQL server (initdb + pg_ctl in a temp dir)
  postgresql-15
)

need_apt() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  pyver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  mapfile -t missing < <(need_apt "${APT_PACKAGES[@]}")
  "$PY" -c 'import ensurepip' 2>/dev/null || missing+=("python${pyver}-venv")
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # python3.X-venv may not exist under that name everywhere; try both spellings.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" python3-venv >/dev/null
  fi
elif ! "$PY" -c 'import ensurepip' 2>/dev/null; then
  echo "setup: python3 cannot create virtual environments; install python3-venv (as root)" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.centwise-installed"
LOCK="$ROOT/packaging/requirements.lock"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] || [ "$LOCK" -nt "$stamp" ]; then
  echo "setup: installing Centwise's dependencies from the hashed lock file"
  # Every package, pip and the build backend included, is pinned with its sha256 in
  # the lock (bash packaging/lock.sh refreshes it); pip refuses anything else.
  "$VENV/bin/python" -m pip install -q --require-hashes -r "$LOCK"
  # Centwise itself, editable, built with the locked setuptools (no unhashed fetches).
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
  touch "$stamp"
fi
echo "setup: ready ($VENV)"
