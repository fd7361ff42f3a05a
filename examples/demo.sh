#!/usr/bin/env bash
# The end-to-end demo on the bundled examples: check (types and compliance), run the tests,
# build a signed module, decide an input with it on both engines, prove the decision in the
# proof log (verify, inclusion proof, replay, explain). Run from anywhere: `bash examples/demo.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p xop
xop=target/debug/xop
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Each folder is its own project: the ACME example and the seed scenarios.
projects=(examples/acme examples/scenarios/*/)

echo "== xop check (syntax, names, types, EU AI Act / GDPR compliance), each project"
for p in "${projects[@]}"; do $xop check "$p"; done

echo
echo "== xop test examples/acme"
$xop test examples/acme

echo
echo "== seed scenarios: each case of examples/scenarios/*/cases.json, decided (on hold, SIM swap, credit limit)"
for p in examples/scenarios/*/; do
  echo "-- $p"
  $xop build "$p" -o "$work/scenario.xopm" > /dev/null
  python3 - "$p/cases.json" "$work" "$xop" <<'PY'
import json, subprocess, sys
cases, work, xop = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
for c in cases:
    path = f"{work}/case.json"
    json.dump(c["input"], open(path, "w"))
    out = subprocess.run([xop, "eval", f"{work}/scenario.xopm", "--policy", c["policy"],
                          "--input", path, "--format", "json"], capture_output=True, text=True)
    d = json.loads(out.stdout)
    want = c["expect"]
    ok = d["verdict"] == want["verdict"] and d["reasons"] == want["reasons"]
    print(f"{'ok  ' if ok else 'FAIL'} {c['name']}: {d['verdict']} {d['reasons']}")
    if not ok:
        sys.exit(1)
PY
done

echo
echo "== xop keygen + xop build --sign (a content-addressed, signed module)"
$xop keygen -o "$work/acme"
$xop build examples/acme -o "$work/acme.xopm" --sign "$work/acme.key"

echo
echo "== xop eval: a customer on hold is offered 'buy-now' by SMS (module verified with --trust)"
$xop eval "$work/acme.xopm" --trust "$work/acme.pub" --policy contact \
  --input examples/acme/inputs/offer-on-hold.json

echo
echo "== the same decision on the Cranelift JIT (consent() and local_hour() compiled)"
$xop eval "$work/acme.xopm" --trust "$work/acme.pub" --policy contact --engine jit \
  --input examples/acme/inputs/offer-on-hold.json

echo
echo "== xop eval --log: the decision as a record of the proof log (Merkle tree, signed checkpoint)"
$xop eval "$work/acme.xopm" --trust "$work/acme.pub" --policy contact \
  --input examples/acme/inputs/offer-on-hold.json --log "$work/log"
$xop log verify "$work/log"
$xop log prove "$work/log" 0 --format json > "$work/proof.json"
$xop log verify-proof "$work/proof.json" --key "$work/log/log.pub"
$xop log replay "$work/log"
$xop explain "$work/log" 0

echo
echo "== xop eval --decision: next best action for a customer at risk of churning"
$xop eval "$work/acme.xopm" --trust "$work/acme.pub" --decision retention \
  --input examples/acme/inputs/retention.json

echo
echo "== the same input with a wrong type: denied, never allowed"
sed 's/"in_service_interaction": true/"in_service_interaction": "yes"/' \
  examples/acme/inputs/offer-on-hold.json \
  | $xop eval "$work/acme.xopm" --trust "$work/acme.pub" --policy contact --input - || true
