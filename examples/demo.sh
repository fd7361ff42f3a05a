#!/usr/bin/env bash
# The end-to-end demo on the bundled examples: check (types and compliance), run the tests,
# decide every seed scenario's cases, build a signed module, decide an input with it on both
# engines, prove the decision in the proof log (verify, inclusion proof, replay, explain); then
# the network scenarios end to end: `xop serve` reading SIM swaps from a local stand-in of the
# operator's CAMARA APIs, a review case approved over HTTP, a QoD session created, an AI agent's
# tool calls arbitrated through `xop mcp-gateway`, and `xop log verify` on the logs.
# Run from anywhere: `bash examples/demo.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p xop
xop=target/debug/xop
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Each folder is its own project: the ACME example and the seed scenarios.
projects=(examples/acme examples/scenarios/*/)

echo "== xop check (syntax, names, types, EU AI Act / GDPR compliance), each project"
for p in "${projects[@]}"; do $xop check "$p"; done

echo
echo "== xop test examples/acme"
$xop test examples/acme

echo
echo "== seed scenarios: each case of examples/scenarios/*/cases.json, decided or ranked with xop eval"
for p in examples/scenarios/*/; do
  echo "-- $p"
  $xop build "$p" -o "$work/scenario.xopm" > /dev/null
  python3 examples/scenarios/decide_cases.py "$xop" "$work/scenario.xopm" "$p/cases.json" "$work"
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

echo
echo "== network scenarios end to end, against a local stand-in for the operator's CAMARA APIs"
python3 examples/standins/camara.py --port-file "$work/camara.port" --requests "$work/camara.jsonl" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/camara.port" ] && break; sleep 0.1; done
camara="http://127.0.0.1:$(cat "$work/camara.port")"
echo "CAMARA stand-in at $camara (OAuth2 tokens, SIM Swap, Quality on Demand, Device Status)"
new_token() { $xop token new | awk '/^token:/ {print $2}'; }
token_hash() { $xop token hash "$1" | grep -Eo '[0-9a-f]{64}'; }
token=$(new_token)          # ana, of the fraud desk
lead_token=$(new_token)     # sam, a support lead
gateway_token=$(new_token)  # the MCP gateway, an operator that opens review cases
{
  echo '[[reviewers]]'
  echo 'name = "ana"'
  echo 'roles = ["fraud_desk"]'
  echo "token_sha256 = \"$(token_hash "$token")\""
  echo '[[reviewers]]'
  echo 'name = "sam"'
  echo 'roles = ["support_lead"]'
  echo "token_sha256 = \"$(token_hash "$lead_token")\""
  echo '[[operators]]'
  echo 'name = "mcp-gateway"'
  echo "token_sha256 = \"$(token_hash "$gateway_token")\""
  echo
  echo '[camara]'
  echo "api_root = \"$camara\""
  echo "token_url = \"$camara/oauth2/token\""
  echo 'client_id = "xop-demo"'
  echo 'client_secret = "demo-secret"'
} > "$work/xop.toml"
$xop build examples/scenarios/sim-swap-payment -o "$work/fraud.xopm" > /dev/null
$xop build examples/scenarios/qod-vip-boost -o "$work/boost.xopm" > /dev/null
$xop serve --module "$work/fraud.xopm" --module "$work/boost.xopm" --data "$work/data" \
  --config "$work/xop.toml" --listen 127.0.0.1:0 > "$work/serve.out" &
serve=$!
pids+=($serve)
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.*listening on //p' "$work/serve.out")
echo "xop serve at $url: signals read through the connectors ([camara] in xop.toml)"
echo
python3 examples/standins/network_demo.py "$url" "$token" "$xop" "$work/boost.xopm" "$work"
echo
echo "== (d) an AI support agent's tool calls through xop mcp-gateway (the official MCP Python SDK)"
echo "   (held calls are reviewed in the review queue of the xop serve above)"
if python3 -c "import mcp.client.stdio, mcp.server.mcpserver" 2> /dev/null; then
  $xop build examples/scenarios/agent-refund -o "$work/agent.xopm" > /dev/null
  XOP_REVIEW_SERVER="$url" XOP_TOKEN="$gateway_token" XOP_REVIEWER_TOKEN="$lead_token" \
    python3 examples/scenarios/agent-refund/agent.py "$xop" "$work/agent.xopm" "$work/agent-log" \
    '{"to": {"id": "cust-42", "consents": [{"purpose": "ai_support", "channel": "in_app", "given_at": "2026-01-01T00:00:00Z"}], "refunds_30d": 0}}' \
    2> "$work/gateway.err"
  $xop log verify "$work/agent-log"
else
  echo "skipped: the Python package mcp is not installed (pip install mcp==2.3.0; .ci/run installs it)"
fi

kill -TERM "$serve"
wait "$serve"
echo
echo "what the stand-in operator received (each x-correlator is also in the proof log):"
cat "$work/camara.jsonl"

echo
echo "== xop log verify, replay and explain on the server's log (the SIM swap read and its correlators)"
$xop log verify "$work/data"
$xop log replay "$work/data"
$xop explain "$work/data" 0 | sed -n "1,12p"

echo
echo "demo: done"
