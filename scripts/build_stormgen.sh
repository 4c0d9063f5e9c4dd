#!/usr/bin/env bash
# Build the Go join-storm generator (bench/fanout/stormgen, standard library only) into
# var/bin/stormgen (not committed). Run by `make install` / `make test` and on demand by
# bench/fanout/run.py and the tests. Needs Go >= 1.19 (Debian's golang-go): installed here when
# missing and running as root, as scripts/ensure_services.sh installs the other tools; without
# it (not root) it warns and exits 0, and whatever needs the binary says so itself.
# Offline by design: GOPROXY=off, there is nothing to download.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/bench/fanout/stormgen"
out="$root/var/bin/stormgen"
if ! command -v go >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[stormgen] installing golang-go" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends golang-go >/dev/null
  else
    echo "[stormgen] go not found: the Go join-storm generator needs golang-go (apt-get install golang-go)" >&2
    exit 0
  fi
fi
# The build cache: Go's default under $HOME, or var/ when there is no home (some CI shells).
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
  export GOCACHE="$root/var/go-cache"
fi
mkdir -p "$(dirname "$out")"
cd "$src"
GOPROXY=off GOTOOLCHAIN=local go build -trimpath -o "$out.$$" .
mv "$out.$$" "$out"  # atomic: parallel builders never see half a binary
echo "[stormgen] built $out" >&2
