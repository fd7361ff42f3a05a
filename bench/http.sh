#!/usr/bin/env bash
# HTTP load on loopback: builds `xop` (release), a module of the test policies, starts
# `xop serve` on a fresh data folder and drives it with the `http_load` example
# (bench/examples/http_load.rs). Not part of CI. Usage:
#   bench/http.sh [CONNECTIONS] [SECONDS]
# DATA_DIR (default: a fresh temporary folder) decides which disk the proof log syncs to.
# Figures and the machine they were taken on: docs/performance.md ("HTTP: xop serve").
set -euo pipefail
cd "$(dirname "$0")/.."
connections="${1:-64}"
seconds="${2:-10}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p xop
tmp="$(mktemp -d)"
# The load generator is std only: compiled on its own, it needs nothing else built.
rustc -O --edition 2024 bench/examples/http_load.rs -o "$tmp/http_load"
pid=""
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$target/release/xop" build server/tests/pay -o "$tmp/pay.xopm" >/dev/null
"$target/release/xop" serve --module "$tmp/pay.xopm" --data "${DATA_DIR:-$tmp/data}" \
  --listen 127.0.0.1:0 > "$tmp/out" &
pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/out" && break; sleep 0.1; done
addr="$(sed -n 's|.*http://||p' "$tmp/out" | head -1)"
"$tmp/http_load" --addr "$addr" --policy receipt \
  --connections "$connections" --seconds "$seconds"
kill -TERM "$pid"; wait "$pid"
"$target/release/xop" log verify "${DATA_DIR:-$tmp/data}" | head -1
