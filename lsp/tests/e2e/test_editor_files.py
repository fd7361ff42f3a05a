"""The editor files in grammar/: the TextMate grammar compiles and scopes XOP as expected,
and the VS Code extension points at what exists."""

import json
import re
from pathlib import Path

from conftest import REPO

GRAMMAR = REPO / "grammar" / "xop.tmLanguage.json"
VSCODE = REPO / "grammar" / "vscode"


def patterns(node):
    if isinstance(node, dict):
        for key in ("match", "begin", "end"):
            if key in node:
                yield node[key]
        for v in node.values():
            yield from patterns(v)
    elif isinstance(node, list):
        for v in node:
            yield from patterns(v)


def scope_of(grammar: dict, text: str) -> str | None:
    """The scope of the first top-level rule (in include order) that matches at the start of
    `text`: a small stand-in for a TextMate engine, enough for single tokens."""
    for inc in grammar["patterns"]:
        for rule in grammar["repository"][inc["include"][1:]]["patterns"]:
            rx = rule.get("match") or rule.get("begin")
            m = re.match(rx, text)
            if m:
                if "captures" in rule:
                    return rule["captures"]["1"]["name"]
                return rule["name"]
    return None


def test_grammar_compiles_and_scopes_tokens():
    g = json.loads(GRAMMAR.read_text())
    assert g["scopeName"] == "source.xop"
    for rx in patterns(g["repository"]):
        re.compile(rx)
    assert scope_of(g, "/// doc") == "comment.line.documentation.xop"
    assert scope_of(g, "// note") == "comment.line.double-slash.xop"
    assert scope_of(g, "policy contact for") == "storage.type.xop"
    assert scope_of(g, "deny \"x\"") == "keyword.control.verdict.xop"
    assert scope_of(g, "\"in-service\"") == "string.quoted.double.xop"
    assert scope_of(g, "15m") == "constant.numeric.duration.xop"
    assert scope_of(g, "12.50 EUR") == "constant.numeric.money.xop"
    assert scope_of(g, "2026-11-25T10:00:00Z") == "constant.numeric.time.xop"
    assert scope_of(g, "@personal") == "entity.name.decorator.xop"
    assert scope_of(g, "Customer") == "entity.name.type.xop"
    assert scope_of(g, "Bool") == "support.type.builtin.xop"


def test_vscode_extension_is_consistent():
    pkg = json.loads((VSCODE / "package.json").read_text())
    lang = pkg["contributes"]["languages"][0]
    assert lang["id"] == "xop" and ".xop" in lang["extensions"]
    assert (VSCODE / lang["configuration"]).is_file()
    grammar = pkg["contributes"]["grammars"][0]
    assert (VSCODE / grammar["path"]).resolve() == GRAMMAR
    assert grammar["scopeName"] == "source.xop"
    assert (VSCODE / pkg["main"]).is_file()
    assert "vscode-languageclient" in pkg["dependencies"]
    ext = (VSCODE / "extension.js").read_text()
    assert '["lsp"]' in ext
    json.loads((VSCODE / "language-configuration.json").read_text())
