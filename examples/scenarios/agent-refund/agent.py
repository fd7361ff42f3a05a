"""Scenario (d) end to end: an AI support agent (an MCP client, the official Python SDK) asks for
refunds through `xop mcp-gateway`, which decides each tool call with the policies of
refund.xop, proves it in the log, and forwards, holds or refuses it.

Usage: agent.py XOP MODULE LOG_DIR SUBJECT_JSON. Prints what happened to each call; exits 1 if
anything differs from what the policies say (run by examples/demo.sh).

With XOP_REVIEW_SERVER (the URL of a running `xop serve`), XOP_TOKEN (an operator token of that
server, for the gateway to open review cases) and XOP_REVIEWER_TOKEN (a support lead's token)
in the environment, the held refund's case is opened in that server's review queue; the support
lead approves it there, and the agent's retry with the case id is forwarded."""

import asyncio
import json
import os
import sys
import tempfile
import urllib.request

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

HERE = os.path.dirname(os.path.abspath(__file__))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def refused(coro):
    try:
        result = await coro
    except MCPError as e:
        return e
    raise AssertionError(f"expected a refusal, got {result}")


async def main(xop, module, log, subject):
    calls = os.path.join(tempfile.mkdtemp(), "calls.jsonl")
    server = os.environ.get("XOP_REVIEW_SERVER")
    review = ["--review-server", server] if server else []
    env = {"XOP_CALLS": calls}
    if server:
        env["XOP_TOKEN"] = os.environ["XOP_TOKEN"]
    params = StdioServerParameters(
        command=xop,
        args=["mcp-gateway", "--module", module, "--subject", subject, "--log", log, *review,
              "--", sys.executable, os.path.join(HERE, "tools.py")],
        env=env,
    )
    allowed = 1
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            listed = sorted(t.name for t in (await session.list_tools()).tools)
            print(f"tools the agent sees: {listed}")
            check(listed == ["refund"], f"listed {listed}")

            r = await session.call_tool("refund", {"amount": "20.00 EUR", "reason": "late delivery"})
            print(f"refund 20.00 EUR: forwarded -> {r.content[0].text}")
            check(not r.is_error and r.content[0].text.startswith("refunded"), f"{r}")

            r = await session.call_tool("refund", {"amount": "450.00 EUR", "reason": "broken phone"})
            held = r.structured_content or {}
            print(f"refund 450.00 EUR: held for role {held.get('role')} "
                  f"({', '.join(held.get('reasons', []))}), case {held.get('case')}")
            check(r.is_error and held.get("status") == "pending-review", f"{r}")
            if server:
                # Meanwhile, the support lead approves the case in the server's review queue.
                case = approve(server, os.environ["XOP_REVIEWER_TOKEN"], held["case"])
                print(f"  the support lead {case['decided_by']} approves {case['id']} "
                      f"(proof record {case['proof']} of the server's log)")
                r = await session.call_tool(
                    "refund", {"amount": "450.00 EUR", "reason": "broken phone"},
                    meta={"xop/case": held["case"]})
                print(f"refund 450.00 EUR retried with the case: forwarded -> {r.content[0].text}")
                check(not r.is_error and r.content[0].text.startswith("refunded"), f"{r}")
                allowed = 2

            e = await refused(session.call_tool("refund", {"amount": "1500.00 EUR", "reason": "x"}))
            print(f"refund 1500.00 EUR: refused, error {e.code}, reasons {e.error.data['reasons']}")
            check(e.error.data["reasons"] == ["refund-over-limit"], f"{e.error.data}")

            e = await refused(session.call_tool("close_account", {}))
            print(f"close_account: refused, reasons {e.error.data['reasons']}")
            check(e.error.data["reasons"] == ["never-by-agent"], f"{e.error.data}")

            e = await refused(session.call_tool("export_customers", {}))
            print(f"export_customers (not bound): refused, reasons {e.error.data['reasons']}")
            check(e.error.data["reasons"] == ["xop:unbound-tool"], f"{e.error.data}")

    with open(calls, encoding="utf-8") as f:
        ran = [line for line in f if line.strip()]
    print(f"calls that reached the tool server: {len(ran)} (only the allowed refunds)")
    check(len(ran) == allowed, f"the tool server ran {ran}")


def approve(server, token, case):
    req = urllib.request.Request(f"{server}/v1/reviews/{case}/approve", method="POST",
                                 data=json.dumps({"note": "receipt checked"}).encode())
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(*sys.argv[1:5]), 120))
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
