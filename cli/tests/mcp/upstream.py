"""The upstream MCP tool server of the gateway's end-to-end test (the SDK's FastMCP, named
MCPServer in mcp 2): it records every call it receives in the file named by XOP_CALLS, so the
test can check that refused calls never reach it."""

import json
import os

from mcp.server.mcpserver import MCPServer

app = MCPServer("shop-tools")


def _seen(tool: str, **arguments: str) -> None:
    path = os.environ.get("XOP_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")


@app.tool()
def refund(amount: str, reason: str) -> str:
    """Refund the customer."""
    _seen("refund", amount=amount, reason=reason)
    return f"refunded {amount} ({reason})"


@app.tool()
def set_limit(limit: str) -> str:
    """Set the customer's credit limit."""
    _seen("set_limit", limit=limit)
    return f"limit set to {limit}"


@app.tool()
def close_account() -> str:
    """Close the customer's account."""
    _seen("close_account")
    return "closed"


@app.tool()
def delete_all_customers() -> str:
    """Not bound by the agent: must never be listed nor run."""
    _seen("delete_all_customers")
    return "deleted"


if __name__ == "__main__":
    app.run()
