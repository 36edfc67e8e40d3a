#!/usr/bin/env bash
# Installs the checkers make test runs on deployments/ into bin/ of the
# repository, once: promtool (Prometheus's rule checker and rule unit
# tester), taken from Debian's prometheus package without installing the
# package (no server is started or registered).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="$PWD/bin"
mkdir -p "$BIN"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! "$BIN/promtool" --version >/dev/null 2>&1; then
  echo "[tools] promtool: extracting it from Debian's prometheus package into bin/"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 777 "$work"
  (cd "$work" && { apt-get download prometheus >/dev/null 2>&1 || { as_root apt-get update -qq && apt-get download prometheus >/dev/null; }; })
  dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
  install -m 0755 "$work/x/usr/bin/promtool" "$BIN/promtool"
  rm -rf "$work"
  trap - EXIT
fi
"$BIN/promtool" --version 2>&1 | head -n1 | sed 's/^/[tools] /'
