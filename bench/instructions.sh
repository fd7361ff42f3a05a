#!/usr/bin/env bash
# Instructions per source-to-ready compile, counted by callgrind: repeatable to a few in a
# million whatever else the machine runs, where wall-clock figures on a shared 2-core machine
# move by a fifth from one run to the next. Runs bench/examples/ready.rs for N rules K times
# and once, and prints the difference divided by K - 1: what is paid once per process (its
# start, the policy's text, the standard library's first parse, the first compile's warming)
# cancels out. Not part of CI. Usage:
#   bench/instructions.sh [N] [K]        (defaults: 1000 4; 100 10, 10 20 and 1 20 are usual)
# KEEP=1 keeps the callgrind files (in the temporary folder it prints) for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
rules="${1:-1000}"
times="${2:-4}"
[ "$times" -ge 2 ] || { echo "K must be at least 2" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is required" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p xop-bench --example ready
tmp="$(mktemp -d)"
[ "${KEEP:-}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.$1.$2" \
    "$target/release/examples/ready" "$1" "$2" 2>&1 >/dev/null |
    sed -n 's/.*refs: *//p' | tr -d ,
}
with="$(count "$rules" "$times")"
once="$(count "$rules" 1)"
echo "$rules rules: $(( (with - once) / (times - 1) )) instructions per compile"
[ "${KEEP:-}" != 1 ] || echo "callgrind files in $tmp"
