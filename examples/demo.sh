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

echo "== xop check examples/ (syntax, names, types, EU AI Act / GDPR compliance)"
$xop check examples/

echo
echo "== xop test examples/"
$xop test examples/

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
