#!/usr/bin/env bash
# Start a private D-Bus session bus and an unlocked gnome-keyring Secret Service,
# then print the shell lines that point this shell at them:
#
#   eval "$(packaging/start-keyring.sh)"
#   ...                                   # keyring tests, the app, ...
#   kill $CENTWISE_KEYRING_PIDS           # stop both daemons
#
# The login keyring is created (or unlocked) with $CENTWISE_KEYRING_PASSWORD, or a
# random password when unset, under $XDG_DATA_HOME/keyrings (default
# ~/.local/share/keyrings). Diagnostics go to stderr; stdout is only for eval.
set -euo pipefail

for bin in dbus-daemon gnome-keyring-daemon; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "start-keyring.sh: $bin not found (apt-get install dbus gnome-keyring)" >&2
    exit 1
  fi
done

bus=$(dbus-daemon --session --fork --print-address=1 --print-pid=1)
address=$(sed -n 1p <<<"$bus")
dbus_pid=$(sed -n 2p <<<"$bus")
if [ -z "$address" ] || [ -z "$dbus_pid" ]; then
  echo "start-keyring.sh: dbus-daemon did not report its address and pid" >&2
  exit 1
fi
export DBUS_SESSION_BUS_ADDRESS="$address"

password=${CENTWISE_KEYRING_PASSWORD:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
# --foreground in the background so we know its pid; its output must not hold our
# stdout open, or "$(start-keyring.sh)" would never return.
printf '%s' "$password" |
  gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
keyring_pid=$!

# Wait until the Secret Service has claimed its bus name.
ready=""
for _ in $(seq 100); do
  if ! kill -0 "$keyring_pid" 2>/dev/null; then
    break
  fi
  if command -v dbus-send >/dev/null 2>&1; then
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
      grep -q "boolean true"; then
      ready=1
      break
    fi
  else
    ready=1 # cannot check; give it a moment
    sleep 1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "start-keyring.sh: gnome-keyring-daemon did not start a Secret Service" >&2
  kill "$keyring_pid" "$dbus_pid" 2>/dev/null || true
  exit 1
fi

printf 'export DBUS_SESSION_BUS_ADDRESS=%q\n' "$address"
printf 'export CENTWISE_KEYRING_PIDS=%q\n' "$dbus_pid $keyring_pid"
echo "start-keyring.sh: Secret Service ready on $address (pids $dbus_pid $keyring_pid)" >&2
