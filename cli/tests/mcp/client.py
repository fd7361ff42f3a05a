"""The MCP gateway end to end with the official Python SDK: a client agent (ClientSession over
stdio) talks to `xop mcp-gateway`, which starts the upstream tool server (upstream.py).

Usage: client.py XOP MODULE LOG_DIR CALLS_FILE. Exits 0 when every expectation holds; prints
what failed otherwise. Run by cli/tests/mcp_gateway.rs."""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

HERE = os.path.dirname(os.path.abspath(__file__))
SUBJECT = json.dumps({"to": {"id": "cust-42", "vip": False}})


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def expect_error(coro, code):
    try:
        result = await coro
    except MCPError as e:
        check(e.code == code, f"expected JSON-RPC error {code}, got {e.code}: {e}")
        return e.error
    raise AssertionError(f"expected JSON-RPC error {code}, got a result: {result}")


async def main(xop, module, log, calls):
    params = StdioServerParameters(
        command=xop,
        args=["mcp-gateway", "--module", module, "--subject", SUBJECT, "--log", log,
              "--", sys.executable, os.path.join(HERE, "upstream.py")],
        env={"XOP_CALLS": calls},
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            # A client of the 2026-07-28 era probes with server/discover; the gateway answers as
            # a handshake-era server does (method not found), and the client falls back to
            # initialize, answered with 2025-11-25.
            await expect_error(session.send_discover("2026-07-28"), -32601)
            init = await session.initialize()
            check(init.protocol_version == "2025-11-25", f"protocol {init.protocol_version}")

            # Only tools bound to actions some policy can allow are listed.
            listed = sorted(t.name for t in (await session.list_tools()).tools)
            check(listed == ["refund", "set_limit"], f"listed {listed}")

            # Allowed: forwarded, the tool's result comes back.
            r = await session.call_tool("refund", {"amount": "20.00 EUR", "reason": "late"})
            check(not r.is_error, f"allowed call failed: {r}")
            check(r.content[0].text == "refunded 20.00 EUR (late)", f"result {r.content}")

            # Denied: a JSON-RPC error with the reasons, never forwarded.
            err = await expect_error(
                session.call_tool("refund", {"amount": "500.00 EUR", "reason": "x"}), -32006)
            check(err.data["reasons"] == ["refund-too-large"], f"data {err.data}")
            check(err.data["verdict"] == "deny", f"data {err.data}")

            # An argument the binding does not pass to the action is refused.
            err = await expect_error(
                session.call_tool("refund", {"amount": "1.00 EUR", "reason": "x", "to": "me"}),
                -32006)
            check(err.data["reasons"] == ["xop:unbound-argument"], f"data {err.data}")

            # Bad input: the field path and the bad-input reason.
            err = await expect_error(
                session.call_tool("refund", {"amount": "lots", "reason": "x"}), -32006)
            check(err.data["reasons"] == ["xop:bad-input"], f"data {err.data}")
            check("amount" in err.data["error"], f"data {err.data}")

            # Unbound: neither listed nor callable.
            err = await expect_error(session.call_tool("delete_all_customers", {}), -32002)
            check(err.data["reasons"] == ["xop:unbound-tool"], f"data {err.data}")
            # Bound but never allowed (deny only): not listed, and refused when called.
            err = await expect_error(session.call_tool("close_account", {}), -32006)
            check(err.data["reasons"] == ["never-by-agent"], f"data {err.data}")

            # Review: held (not forwarded), a tool result with isError and the case.
            r = await session.call_tool("set_limit", {"limit": "5000.00 EUR"})
            check(r.is_error, f"review not held: {r}")
            held = r.structured_content
            check(held["status"] == "pending-review", f"held {held}")
            check(held["role"] == "credit_officer", f"held {held}")
            check(held["reasons"] == ["credit-decision"], f"held {held}")
            case = held["case"]
            check(case in r.content[0].text, f"text {r.content[0].text}")
            # Retried with the case id before anyone decided: still pending, same case.
            r = await session.call_tool("set_limit", {"limit": "5000.00 EUR"},
                                        meta={"xop/case": case})
            check(r.is_error and r.structured_content["case"] == case, f"retry {r}")
            # The case is for that call only.
            await expect_error(
                session.call_tool("set_limit", {"limit": "1.00 EUR"}, meta={"xop/case": case}),
                -32005)

    with open(calls, encoding="utf-8") as f:
        seen = [json.loads(line) for line in f]
    check(seen == [{"tool": "refund", "arguments": {"amount": "20.00 EUR", "reason": "late"}}],
          f"the upstream ran {seen}")
    print("mcp gateway e2e: ok")


if __name__ == "__main__":
    try:
        asyncio.run(main(*sys.argv[1:5]))
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
