"""End-to-end tests of `xop lsp`: a real client (pytest-lsp) talks to the real binary over
stdio. Each test starts a server on a fresh copy of project/ (customer.xop and contact.xop,
which `use`s it)."""

import asyncio
import subprocess
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from conftest import xop_binary

TIMEOUT = 20.0


# ---- helpers


def position(text: str, needle: str, nth: int = 0, offset: int = 0) -> types.Position:
    """The protocol position (UTF-16 columns) of the nth `needle` in `text`, plus `offset`
    characters."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    i += offset
    line = text.count("\n", 0, i)
    start = text.rfind("\n", 0, i) + 1
    col = len(text[start:i].encode("utf-16-le")) // 2
    return types.Position(line=line, character=col)


def offset_of(text: str, p: types.Position) -> int:
    lines = text.split("\n")
    start = sum(len(l) + 1 for l in lines[: p.line])
    line = lines[p.line] if p.line < len(lines) else ""
    units = 0
    for k, ch in enumerate(line):
        if units >= p.character:
            return start + k
        units += len(ch.encode("utf-16-le")) // 2
    return start + len(line)


def apply_edits(text: str, edits) -> str:
    """Applies protocol text edits (from the end, so earlier offsets stay valid)."""
    spans = sorted(
        ((offset_of(text, e.range.start), offset_of(text, e.range.end), e.new_text) for e in edits),
        reverse=True,
    )
    for s, e, new in spans:
        text = text[:s] + new + text[e:]
    return text


def open_doc(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    text = path.read_text() if text is None else text
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=path.as_uri(), language_id="xop", version=version, text=text
            )
        )
    )
    return text


def change(client: LanguageClient, path: Path, version: int, text: str):
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=path.as_uri(), version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def published(client: LanguageClient, path: Path, version=None, pred=lambda ds: True):
    """The latest diagnostics published for `path` (at `version`, if given) that satisfy
    `pred`, waiting for them."""
    uri = path.as_uri()
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        for p in reversed(client.published):
            if p.uri == uri and (version is None or p.version == version):
                if pred(p.diagnostics):
                    return p
                break
        if asyncio.get_running_loop().time() > deadline:
            got = [(p.uri, p.version, [d.code for d in p.diagnostics]) for p in client.published]
            raise AssertionError(f"no matching diagnostics for {uri} v{version}; got {got}")
        await asyncio.sleep(0.02)


def completion_items(result) -> list:
    return result if isinstance(result, list) else result.items


def codes(diags) -> list[str]:
    return sorted(d.code for d in diags)


def tdpp(path: Path, pos: types.Position):
    return dict(text_document=types.TextDocumentIdentifier(uri=path.as_uri()), position=pos)


# ---- diagnostics


async def test_diagnostics_on_open_carry_the_version(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = contact.read_text().replace("c.messages_7d >= 3", "c.messages_7d >= true")
    open_doc(client, contact, text, version=7)
    p = await published(client, contact, version=7, pred=lambda ds: "E0304" in codes(ds))
    d = next(d for d in p.diagnostics if d.code == "E0304")
    assert d.severity == types.DiagnosticSeverity.Error
    assert d.source == "xop"
    assert d.range.start == position(text, "c.messages_7d >= true")


async def test_incremental_change_rechecks(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    await published(client, contact, version=1, pred=lambda ds: "E0205" not in codes(ds))
    # Typing a misspelt name with a range edit: the name is unresolved at version 2...
    start = position(text, "c.in_service_interaction", offset=2)
    end = position(text, "c.in_service_interaction", offset=len("c.in_service_interaction"))
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=contact.as_uri(), version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=start, end=end), text="in_service"
                )
            ],
        )
    )
    p = await published(client, contact, version=2, pred=lambda ds: "E0210" in codes(ds))
    assert any("in_service" in d.message for d in p.diagnostics)
    # ...and fixed again at version 3.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=contact.as_uri(), version=3),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=start,
                        end=types.Position(line=start.line, character=start.character + len("in_service")),
                    ),
                    text="in_service_interaction",
                )
            ],
        )
    )
    p = await published(client, contact, version=3)
    assert "E0210" not in codes(p.diagnostics)


async def test_edits_apply_in_order(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    # Type a whole rule one character at a time, without waiting: every edit must apply, in
    # order, and the last diagnostics must be those of the final text.
    rule = '  deny "big" when c.messages_7d > 10\n'
    at = position(text, '  allow "eligible"')
    for k, ch in enumerate(rule):
        p = types.Position(line=at.line, character=k)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=contact.as_uri(), version=2 + k),
                content_changes=[
                    types.TextDocumentContentChangePartial(range=types.Range(start=p, end=p), text=ch)
                ],
            )
        )
    last = 2 + len(rule) - 1
    got = await published(client, contact, version=last)
    assert not [d for d in got.diagnostics if d.severity == types.DiagnosticSeverity.Error]
    # The server's text is the typed one: the new rule is in its outline, in its place, and
    # its names resolve where they were typed.
    syms = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=contact.as_uri()))
    )
    rules = [c.name for c in syms[-1].children]
    assert rules == ["in-service-interaction", "no-consent", "frequency-cap", "big", "eligible"]
    typed = text.replace('  allow "eligible"', rule + '  allow "eligible"')
    hover = await client.text_document_hover_async(
        types.HoverParams(**tdpp(contact, position(typed, "messages_7d > 10", offset=2)))
    )
    assert hover is not None and "Customer.messages_7d: Int" in hover.contents.value


async def test_compliance_diagnostic_and_its_article(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = contact.read_text().replace("risk minimal", "risk high")
    open_doc(client, contact, text)
    p = await published(client, contact, version=1, pred=lambda ds: "C0001" in codes(ds))
    d = next(d for d in p.diagnostics if d.code == "C0001")
    assert d.range.start == position(text, 'allow "eligible"')
    hover = await client.text_document_hover_async(
        types.HoverParams(**tdpp(contact, position(text, '"eligible"', offset=3)))
    )
    assert "C0001" in hover.contents.value
    assert "Art. 14" in hover.contents.value


async def test_dependents_are_rechecked(client: LanguageClient, project: Path):
    customer, contact = project / "customer.xop", project / "contact.xop"
    ctext = open_doc(client, contact)
    await published(client, contact, version=1, pred=lambda ds: "E0210" not in codes(ds))
    cust = open_doc(client, customer)
    # Removing a field that contact.xop reads: contact.xop gets an error, without being edited.
    change(client, customer, 2, cust.replace("  messages_7d: Int\n", ""))
    p = await published(client, contact, pred=lambda ds: "E0210" in codes(ds))
    d = next(d for d in p.diagnostics if d.code == "E0210")
    assert d.range.start == position(ctext, "messages_7d")
    change(client, customer, 3, cust)
    await published(client, contact, pred=lambda ds: "E0210" not in codes(ds))


async def test_workspace_files_are_loaded_on_initialize(client: LanguageClient, project: Path):
    # Only contact.xop is opened: `use shop.customer` resolves from the file on disk.
    contact = project / "contact.xop"
    open_doc(client, contact)
    p = await published(client, contact, version=1)
    assert "E0203" not in codes(p.diagnostics)
    assert not [d for d in p.diagnostics if d.severity == types.DiagnosticSeverity.Error]


# ---- hover, navigation


async def test_hover_action_purpose_and_risk(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    h = await client.text_document_hover_async(
        types.HoverParams(**tdpp(contact, position(text, "send_offer", nth=1, offset=3)))
    )
    v = h.contents.value
    assert "action send_offer(to: Customer, channel: Channel, offer: Text) purpose marketing risk minimal" in v
    assert "Offer something to a customer on a channel." in v
    assert "**Purpose** `marketing`" in v and "**Risk class**" in v


async def test_hover_field_type_and_doc(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    h = await client.text_document_hover_async(
        types.HoverParams(**tdpp(contact, position(text, "messages_7d", offset=1)))
    )
    assert "Customer.messages_7d: Int" in h.contents.value
    assert "Messages sent in the last seven days" in h.contents.value
    # A local: its type.
    h = await client.text_document_hover_async(
        types.HoverParams(**tdpp(contact, position(text, "c.messages_7d")))
    )
    assert "c: Customer" in h.contents.value


async def test_hover_on_a_guarded_optional_shows_its_present_type(client: LanguageClient, project: Path):
    guarded = project / "guarded.xop"
    text = (
        "module shop.guarded\n"
        "record R {\n  nickname: Text?\n}\n"
        'fn f(x: Text?): Bool = x is present and x + "b" == "ab"\n'
        'fn g(r: R): Bool = r.nickname is present and r.nickname + "b" == "ab"\n'
    )
    open_doc(client, guarded, text)
    p = await published(client, guarded, version=1)
    assert not [d for d in p.diagnostics if d.severity == types.DiagnosticSeverity.Error]

    async def hover(needle, offset):
        h = await client.text_document_hover_async(
            types.HoverParams(**tdpp(guarded, position(text, needle, offset=offset)))
        )
        return h.contents.value

    # Where the guard makes them present, the type the checker gives them there.
    assert "```xop\nx: Text\n```" in await hover('x + "b"', 0)
    assert "```xop\nR.nickname: Text\n```" in await hover('r.nickname + "b"', 2)
    # Where they are tested, their declared type.
    assert "```xop\nx: Text?\n```" in await hover("x is present", 0)
    assert "```xop\nR.nickname: Text?\n```" in await hover("r.nickname is present", 2)


async def test_utf16_positions(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    # Non-ASCII before a name on the same line: an emoji is 2 UTF-16 units, é is 1.
    text = contact.read_text().replace('deny "frequency-cap"', 'deny "café-😀-cap"')
    open_doc(client, contact, text)
    h = await client.text_document_hover_async(
        types.HoverParams(**tdpp(contact, position(text, "messages_7d", offset=1)))
    )
    assert h is not None and "Customer.messages_7d: Int" in h.contents.value
    assert h.range.start == position(text, "messages_7d")
    assert h.range.end == position(text, "messages_7d", offset=len("messages_7d"))


async def test_definition_across_files_and_into_the_stdlib(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    loc = await client.text_document_definition_async(
        types.DefinitionParams(**tdpp(contact, position(text, "Customer", nth=1, offset=2)))
    )
    cust = (project / "customer.xop").read_text()
    assert loc.uri == (project / "customer.xop").as_uri()
    assert loc.range.start == position(cust, "Customer {")
    loc = await client.text_document_definition_async(
        types.DefinitionParams(**tdpp(contact, position(text, "consent(c", offset=2)))
    )
    assert loc.uri.startswith("file://") and loc.uri.endswith("std/consent.xop")
    std = Path(loc.uri[len("file://"):]).read_text()
    assert std.splitlines()[loc.range.start.line].startswith("intrinsic consent(")
    # The stdlib file, once opened, answers requests too (its names resolve).
    open_doc(client, Path(loc.uri[len("file://"):]), std)
    h = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=loc.uri),
            position=position(std, "purpose marketing", offset=9),
        )
    )
    assert "purpose marketing" in h.contents.value


async def test_references(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    locs = await client.text_document_references_async(
        types.ReferenceParams(
            **tdpp(contact, position(text, "Customer", nth=1)),
            context=types.ReferenceContext(include_declaration=True),
        )
    )
    files = sorted({Path(l.uri).name for l in locs})
    assert files == ["contact.xop", "customer.xop"]
    # The use line, the parameter type, the declaration.
    assert len(locs) == 3
    no_decl = await client.text_document_references_async(
        types.ReferenceParams(
            **tdpp(contact, position(text, "Customer", nth=1)),
            context=types.ReferenceContext(include_declaration=False),
        )
    )
    assert len(no_decl) == 2


async def test_rename_a_field_across_files(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    at = position(text, "messages_7d", offset=2)
    prep = await client.text_document_prepare_rename_async(types.PrepareRenameParams(**tdpp(contact, at)))
    assert prep.start == position(text, "messages_7d")
    edit = await client.text_document_rename_async(
        types.RenameParams(**tdpp(contact, at), new_name="sent_7d")
    )
    changes = edit.changes
    assert set(Path(u).name for u in changes) == {"contact.xop", "customer.xop"}
    new_contact = apply_edits(text, changes[contact.as_uri()])
    assert "c.sent_7d >= 3" in new_contact and "messages_7d" not in new_contact
    cust = (project / "customer.xop").read_text()
    assert "  sent_7d: Int" in apply_edits(cust, changes[(project / "customer.xop").as_uri()])
    # A stdlib name cannot be renamed, and the answer is an error, not a crash.
    with pytest.raises(JsonRpcException):
        await client.text_document_rename_async(
            types.RenameParams(**tdpp(contact, position(text, "consent(c")), new_name="agree")
        )


async def test_a_failing_request_leaves_the_server_running(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    with pytest.raises(JsonRpcException):
        await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=(project / "nope.xop").as_uri()),
                position=types.Position(line=0, character=0),
            )
        )
    h = await client.text_document_hover_async(
        types.HoverParams(**tdpp(contact, position(text, "messages_7d", offset=1)))
    )
    assert "Int" in h.contents.value


# ---- completion


async def test_completion_fields_after_a_dot(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    typed = text.replace('  allow "eligible"', '  deny "x" when c.\n  allow "eligible"')
    change(client, contact, 2, typed)
    await published(client, contact, version=2)
    items = await client.text_document_completion_async(
        types.CompletionParams(**tdpp(contact, position(typed, 'when c.', offset=len("when c."))))
    )
    labels = {i.label: i for i in completion_items(items)}
    assert {"id", "segment", "messages_7d", "in_service_interaction", "consents"} <= set(labels)
    assert labels["messages_7d"].kind == types.CompletionItemKind.Field
    assert labels["messages_7d"].detail == "Int"
    assert "deny" not in labels


async def test_completion_names_in_scope(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    items = await client.text_document_completion_async(
        types.CompletionParams(**tdpp(contact, position(text, "c.messages_7d")))
    )
    labels = {i.label: i for i in completion_items(items)}
    # Keywords, locals, the purpose, channels from the glob import, functions.
    for want in ["deny", "unless", "c", "ch", "marketing", "sms", "email", "consent", "Customer"]:
        assert want in labels, want
    assert labels["c"].detail == "Customer"
    assert labels["sms"].kind == types.CompletionItemKind.Constant
    # Enum values, roles and purposes of the other file.
    cust = project / "customer.xop"
    ctext = open_doc(client, cust)
    items = await client.text_document_completion_async(
        types.CompletionParams(**tdpp(cust, position(ctext, "  id: Id")))
    )
    labels = {i.label for i in completion_items(items)}
    assert {"vip", "standard", "fraud_desk", "fraud_prevention", "Segment"} <= labels


async def test_completion_after_keywords(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    typed = text.replace("risk minimal", "risk ")
    change(client, contact, 2, typed)
    items = await client.text_document_completion_async(
        types.CompletionParams(**tdpp(contact, position(typed, "risk ", offset=5)))
    )
    assert sorted(i.label for i in completion_items(items)) == ["high", "limited", "minimal", "prohibited"]


# ---- symbols, formatting, tokens, folding


async def test_document_and_workspace_symbols(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    open_doc(client, contact)
    syms = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=contact.as_uri()))
    )
    names = [s.name for s in syms]
    assert names == ["shop.contact", "send_offer", "contact"]
    policy = syms[2]
    assert policy.kind == types.SymbolKind.Class
    assert [c.name for c in policy.children] == ["in-service-interaction", "no-consent", "frequency-cap", "eligible"]
    found = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="segm"))
    assert [(s.name, Path(s.location.uri).name) for s in found] == [("Segment", "customer.xop")]
    found = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="local_hour"))
    assert found and found[0].location.uri.endswith("std/time.xop")


async def test_formatting_is_xop_fmt(client: LanguageClient, project: Path, tmp_path: Path):
    contact = project / "contact.xop"
    messy = contact.read_text().replace("  deny \"no-consent\" unless consent(c, marketing, ch)", "deny   \"no-consent\"  unless consent( c,marketing ,ch )")
    open_doc(client, contact, messy)
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=types.TextDocumentIdentifier(uri=contact.as_uri()),
            options=types.FormattingOptions(tab_size=2, insert_spaces=True),
        )
    )
    assert edits
    f = tmp_path / "contact.xop"
    f.write_text(messy)
    subprocess.run([xop_binary(), "fmt", str(f)], check=True, capture_output=True)
    assert apply_edits(messy, edits) == f.read_text()
    # A file with a syntax error is not formatted: an error answer.
    change(client, contact, 2, messy + "\npolicy {")
    with pytest.raises(JsonRpcException):
        await client.text_document_formatting_async(
            types.DocumentFormattingParams(
                text_document=types.TextDocumentIdentifier(uri=contact.as_uri()),
                options=types.FormattingOptions(tab_size=2, insert_spaces=True),
            )
        )


async def test_semantic_tokens(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    init_legend = ["keyword", "namespace", "struct", "enum", "enumMember", "function", "variable",
                   "parameter", "property", "string", "number", "comment", "decorator", "class", "type"]
    toks = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=types.TextDocumentIdentifier(uri=contact.as_uri()))
    )
    data = toks.data
    decoded = {}
    line = col = 0
    for k in range(0, len(data), 5):
        dl, ds, length, ty, mods = data[k : k + 5]
        line += dl
        col = col + ds if dl == 0 else ds
        decoded[(line, col)] = (length, init_legend[ty], mods)

    def at(needle, nth=0):
        p = position(text, needle, nth)
        return decoded.get((p.line, p.character))

    assert at("policy contact") == (6, "keyword", 0)
    assert at("send_offer", 1)[1] == "function"
    assert at("send_offer", 0)[1:] == ("function", 1)  # declaration
    assert at("Customer", 1)[1] == "struct"
    assert at("consent(c")[1:] == ("function", 2)  # from the stdlib
    assert at("messages_7d")[1] == "property"
    assert at('"eligible"')[1] == "string"
    assert at("/// Offer")[1] == "comment"
    # An action's parameters where they are declared and where a binding names them, the
    # soft keyword `channel` included; `purpose` and `risk` are keywords where they are ones.
    assert at("to: Customer")[1:] == ("parameter", 1)
    assert at("channel: Channel")[1:] == ("parameter", 1)
    assert at("to: c")[1:] == ("parameter", 0)
    assert at("channel: ch")[1:] == ("parameter", 0)
    assert at("purpose marketing")[1] == "keyword"
    assert at("risk minimal")[1] == "keyword"


async def test_folding_ranges(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    folds = await client.text_document_folding_range_async(
        types.FoldingRangeParams(text_document=types.TextDocumentIdentifier(uri=contact.as_uri()))
    )
    ranges = {(f.start_line, f.end_line, str(getattr(f.kind, "value", f.kind))) for f in folds}
    policy = position(text, "policy contact").line
    end = text.count("\n", 0, text.rindex("}"))
    assert (policy, end, "region") in ranges
    uses = (position(text, "use shop").line, position(text, "use std.channel").line)
    assert (uses[0], uses[1], "imports") in ranges


# ---- quick fixes


async def fix_and_check(client, path: Path, text: str, code: str, title_part: str, needle: str):
    """Opens `text`, waits for `code`, applies the quick fix offered at `needle`, and
    checks that the diagnostic is gone. Returns the fixed text."""
    open_doc(client, path, text)
    p = await published(client, path, version=1, pred=lambda ds: code in codes(ds))
    d = next(d for d in p.diagnostics if d.code == code)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
            range=types.Range(start=position(text, needle), end=position(text, needle)),
            context=types.CodeActionContext(diagnostics=[d]),
        )
    )
    fix = next(a for a in actions if title_part in a.title)
    assert fix.kind == types.CodeActionKind.QuickFix
    fixed = apply_edits(text, fix.edit.changes[path.as_uri()])
    change(client, path, 2, fixed)
    p = await published(client, path, version=2)
    assert code not in codes(p.diagnostics), fixed
    assert not [d for d in p.diagnostics if d.severity == types.DiagnosticSeverity.Error], fixed
    return fixed


async def test_fix_wraps_a_high_risk_allow_in_a_review(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = contact.read_text().replace("risk minimal", "risk high").replace(
        "use std.channel.*", "use std.channel.*\nuse shop.customer.fraud_desk"
    )
    fixed = await fix_and_check(client, contact, text, "C0001", "review", 'allow "eligible"')
    assert 'review "eligible" by role fraud_desk within 24h else deny' in fixed


async def test_fix_adds_a_consent_guard(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = contact.read_text().replace("  deny \"no-consent\" unless consent(c, marketing, ch)\n", "").replace(
        "use std.consent.consent\n", ""
    )
    fixed = await fix_and_check(client, contact, text, "C0005", "consent", 'allow "eligible"')
    assert 'deny "no-consent" unless consent(c, marketing, ch)' in fixed
    assert "use std.consent.consent" in fixed


async def test_fix_adds_a_consent_guard_whatever_the_layout(client: LanguageClient, project: Path):
    """The guard goes before the rule: on a line of its own with the rule's indentation, or on
    the rule's line when something comes before it there; nothing else is copied."""
    original = (project / "contact.xop").read_text().replace("use std.consent.consent\n", "")
    guard = 'deny "no-consent" unless consent(c, marketing, ch)'
    head = "policy contact for send_offer(to: c, channel: ch) {"
    body = original[original.index(head) :]
    layouts = [
        # A rule sharing its line with the one before it, CRLF.
        (
            original.replace(f"  {guard}\n", "").replace('>= 3\n  allow', '>= 3 allow').replace("\n", "\r\n"),
            f'>= 3 {guard} allow "eligible"\r\n',
        ),
        # A policy on one line.
        (original.replace(body, f'{head} allow "eligible" }}\n'), f'{head} {guard} allow "eligible" }}'),
    ]
    for i, (text, expected) in enumerate(layouts):
        # A file of its own for each layout, so that its diagnostics are its own.
        path = project / f"layout{i}.xop"
        text = text.replace("module shop.contact", f"module shop.layout{i}")
        fixed = await fix_and_check(client, path, text, "C0005", "consent", 'allow "eligible"')
        assert expected in fixed, fixed
        assert fixed.count(guard) == 1, fixed
        for kept in [head, 'allow "eligible"', 'deny "frequency-cap"']:
            assert fixed.count(kept) == text.count(kept), (kept, fixed)


async def test_fix_adds_the_consent_guard_the_checker_requires(client: LanguageClient, project: Path):
    """The guard is the one C0005 asks for wherever the action holds its channels: in a record
    parameter, in a list of optional channels, for each person of a list `to`."""
    cases = [
        (
            "action send_offer(to: Customer, delivery: Delivery) purpose marketing risk minimal\n"
            "policy contact for send_offer(to: c, delivery: d) {\n  allow \"eligible\"\n}\n",
            'deny "no-consent" unless consent(c, marketing, d.channel)\n  allow',
        ),
        (
            "action send_promo(to: Customer, channels: List<Channel?>) purpose marketing risk minimal\n"
            "policy contact for send_promo(to: c) {\n  allow \"eligible\"\n}\n",
            'deny "no-consent" unless all(channels, x => x is absent or consent(c, marketing, x))\n',
        ),
        (
            "action send_all(to: List<Customer>, channel: Channel) purpose marketing risk minimal\n"
            "policy contact for send_all(to: cs, channel: ch) {\n  allow \"eligible\"\n}\n",
            'deny "no-consent" unless all(cs, x => consent(x, marketing, ch))\n',
        ),
    ]
    for i, (decls, expected) in enumerate(cases):
        path = project / f"nested{i}.xop"
        text = (
            f"module shop.nested{i}\n\nuse shop.customer.{{Customer, marketing}}\nuse std.channel.*\n\n"
            "record Delivery {\n  channel: Channel\n  text: Text\n}\n\n" + decls
        )
        fixed = await fix_and_check(client, path, text, "C0005", "consent", 'allow "eligible"')
        assert expected in fixed, fixed
        assert "use std.consent.consent\n" in fixed, fixed


async def test_fix_adds_a_missing_reason(client: LanguageClient, project: Path):
    contact = project / "contact.xop"
    text = contact.read_text().replace('deny "frequency-cap" when', "deny when")
    fixed = await fix_and_check(client, contact, text, "C0007", "reason", "deny when")
    assert 'deny "messages-7d" when c.messages_7d >= 3' in fixed


# ---- workspace: documents of other schemes, files changed on disk


async def test_documents_of_other_schemes_are_left_out_of_rename_and_references(
    client: LanguageClient, project: Path
):
    """A diff view's `git:` copy of a file is read-only: rename must not edit it, and it is
    not one more place of the workspace to list."""
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    copy = "git:" + contact.as_uri()[len("file://"):] + "?%7B%22ref%22%3A%22HEAD%22%7D"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=copy, language_id="xop", version=1, text=text)
        )
    )
    await published(client, contact)
    at = tdpp(contact, position(text, "Customer", nth=1))
    edit = await client.text_document_rename_async(types.RenameParams(**at, new_name="Client"))
    assert sorted(Path(u).name for u in edit.changes) == ["contact.xop", "customer.xop"]
    assert all(u.startswith("file:") for u in edit.changes)
    locs = await client.text_document_references_async(
        types.ReferenceParams(**at, context=types.ReferenceContext(include_declaration=True))
    )
    assert len(locs) == 3 and all(l.uri.startswith("file:") for l in locs)
    found = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="send_offer"))
    assert [s.location.uri for s in found] == [contact.as_uri()]


async def test_file_watchers_are_registered_and_a_deleted_folder_is_dropped(
    client: LanguageClient, project: Path
):
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not client.registrations:
        assert asyncio.get_running_loop().time() < deadline, "no registration"
        await asyncio.sleep(0.02)
    [reg] = client.registrations
    assert reg.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    globs = [w["globPattern"] for w in reg.register_options["watchers"]]
    assert "**/*.xop" in globs
    # A folder appears, file by file, then goes, in one event.
    extra = project / "extra"
    extra.mkdir()
    (extra / "offers.xop").write_text("module shop.offers\n\npurpose upsell\n")
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=(extra / "offers.xop").as_uri(), type=types.FileChangeType.Created)]
        )
    )

    async def upsell():
        return await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="upsell"))

    assert [s.name for s in await upsell()] == ["upsell"]
    (extra / "offers.xop").unlink()
    extra.rmdir()
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=extra.as_uri(), type=types.FileChangeType.Deleted)]
        )
    )
    assert await upsell() == []


async def test_completion_right_after_a_dot_in_a_function(client: LanguageClient, project: Path):
    """What an editor asks on the `.` trigger, where the function's body does not parse."""
    contact = project / "contact.xop"
    text = open_doc(client, contact)
    typed = text + "\nfn busy(c: Customer): Bool = c.\n"
    change(client, contact, 2, typed)
    items = await client.text_document_completion_async(
        types.CompletionParams(
            **tdpp(contact, position(typed, "= c.", offset=4)),
            context=types.CompletionContext(
                trigger_kind=types.CompletionTriggerKind.TriggerCharacter, trigger_character="."
            ),
        )
    )
    labels = {i.label for i in completion_items(items)}
    assert {"id", "segment", "messages_7d", "consents"} <= labels, labels


async def test_a_folder_created_or_moved_in_is_loaded(client: LanguageClient, project: Path):
    """A folder renamed or moved into the workspace comes as one `Created` event for the
    folder (and a `Deleted` one for its old name): the files it holds join the workspace."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not client.registrations:
        assert asyncio.get_running_loop().time() < deadline, "no registration"
        await asyncio.sleep(0.02)
    [reg] = client.registrations
    kinds = {w["globPattern"]: w.get("kind", 7) for w in reg.register_options["watchers"]}
    # Folder events do not match `**/*.xop`: the catch-all watcher asks for creations too.
    assert kinds["**/*"] & types.WatchKind.Create and kinds["**/*"] & types.WatchKind.Delete
    moved = project / "moved"
    (moved / "deeper").mkdir(parents=True)
    (moved / "deeper" / "offers.xop").write_text("module shop.offers\n\npurpose upsell\n")
    (moved / ".hidden").mkdir()
    (moved / ".hidden" / "x.xop").write_text("module shop.hidden\n\npurpose hidden_upsell\n")
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=moved.as_uri(), type=types.FileChangeType.Created)]
        )
    )
    found = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="upsell"))
    assert [s.name for s in found] == ["upsell"]
