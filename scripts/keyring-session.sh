#!/usr/bin/env bash
# Run a command inside a private D-Bus session with an unlocked, throwaway gnome-keyring (CI, headless hosts).
# Usage: scripts/keyring-session.sh .venv/bin/pytest -m keyring
# Needs: apt-get install -y gnome-keyring dbus libsecret-tools
set -euo pipefail
for tool in dbus-run-session gnome-keyring-daemon; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found; run: apt-get install -y gnome-keyring dbus libsecret-tools" >&2; exit 2; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -m 700 "$tmp/run"
export XDG_DATA_HOME="$tmp/data" XDG_RUNTIME_DIR="$tmp/run"
exec dbus-run-session -- bash -c '
  set -uo pipefail
  # --unlock reads the new login keyring password from stdin; --foreground so we own (and stop) the PID.
  head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n" | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
  gkd=$!
  for _ in $(seq 100); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" && break
    sleep 0.1
  done
  "$@"; rc=$?
  kill "$gkd" 2>/dev/null; wait "$gkd" 2>/dev/null
  exit $rc
' bash "$@"
