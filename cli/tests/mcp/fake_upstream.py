"""A minimal MCP server in plain Python (no SDK), for the gateway's protocol tests: it echoes
the protocol version it is asked for (so the test sees what the gateway forwarded), lists
four tools, answers calls, exits without answering a call of `crash`, and stops reading
(sleeping) at a call of `stall`."""

import json
import sys
import time

for line in sys.stdin:
    msg = json.loads(line)
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        continue
    if method == "initialize":
        result = {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "fake", "version": "0"},
        }
    elif method == "tools/list":
        names = ["refund", "set_limit", "close_account", "delete_all_customers"]
        result = {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in names]}
    elif method == "tools/call":
        if msg["params"]["name"] == "refund" and msg["params"]["arguments"].get("reason") == "crash":
            sys.exit(3)
        if msg["params"]["name"] == "refund" and msg["params"]["arguments"].get("reason") == "stall":
            time.sleep(3600)
        result = {"content": [{"type": "text", "text": "ok"}], "isError": False}
    else:
        result = {}
    print(json.dumps({"jsonrpc": "2.0", "id": mid, "result": result}), flush=True)
