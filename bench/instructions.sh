#!/usr/bin/env bash
# Instructions counted by callgrind, which repeats them to a few in a million whatever else
# the machine runs, where wall-clock figures on a shared 2-core machine move by a fifth from
# one run to the next. Each figure is a run of K less a run of one, divided by K - 1, so that
# what a process pays once (its start, the standard library's first parse, the first run's
# warming) cancels out. Not part of CI. Usage:
#   bench/instructions.sh [N] [K]            per source-to-ready compile of the N-rule policy
#                                            (bench/examples/ready.rs; defaults 1000 4; 100 10,
#                                            10 20 and 1 20 are usual)
#   bench/instructions.sh json [K] [MODE]    per input of workload (a) from JSON
#                                            (bench/examples/contact_json.rs and its modes:
#                                            none, no-replay, bound, cases, texts; K 100000)
# KEEP=1 keeps the callgrind files (in the temporary folder it prints) for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = json ]; then
  example=contact_json
  what="per input of (a) from JSON${3:+ ($3)}"
  times="${2:-100000}"
  args=("${3:-}")
else
  example=ready
  rules="${1:-1000}"
  what="per compile of $rules rules"
  times="${2:-4}"
  args=()
fi
[ "$times" -ge 2 ] || { echo "K must be at least 2" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is required" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p xop-bench --example "$example"
tmp="$(mktemp -d)"
[ "${KEEP:-}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
# Runs the example `$1` times and prints the instructions it executed.
count() {
  local run=("$1" "${args[@]}")
  [ "$example" = ready ] && run=("${rules}" "$1")
  valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.$example.$1" \
    "$target/release/examples/$example" "${run[@]}" 2>&1 >/dev/null |
    sed -n 's/.*refs: *//p' | tr -d ,
}
many="$(count "$times")"
once="$(count 1)"
echo "$(( (many - once) / (times - 1) )) instructions $what"
[ "${KEEP:-}" != 1 ] || echo "callgrind files in $tmp"
