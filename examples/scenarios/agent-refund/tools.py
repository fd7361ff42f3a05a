"""The support platform's MCP tool server for scenario (d), as an AI agent would reach it if
nothing stood in between. `xop mcp-gateway` starts it and forwards only the calls the
policies allow. Each call it runs is appended to the file named by XOP_CALLS, if set."""

import json
import os

from mcp.server.mcpserver import MCPServer

app = MCPServer("support-tools")


def _ran(tool: str, **arguments: str) -> None:
    path = os.environ.get("XOP_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")


@app.tool()
def refund(amount: str, reason: str) -> str:
    """Refund the customer of the conversation."""
    _ran("refund", amount=amount, reason=reason)
    return f"refunded {amount} ({reason})"


@app.tool()
def close_account() -> str:
    """Close the customer's account."""
    _ran("close_account")
    return "account closed"


@app.tool()
def export_customers() -> str:
    """Not bound by the agent's policy module: never listed, never run."""
    _ran("export_customers")
    return "exported"


if __name__ == "__main__":
    app.run()
