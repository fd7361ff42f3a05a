"""End-to-end tests of which files the workspace holds and in which order: a file created in
the editor, saved and closed stays; a module declared twice is reported on the file that
`xop check` reports it on."""

import json
import subprocess
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from conftest import xop_binary
from test_lsp import codes, open_doc, published

LIB = "module shop.offers\n\npurpose upsell\n"
# Files declaring one module, written out of name order.
DUPLICATES = ["z_dup.xop", "m_dup.xop", "a_dup.xop"]


@pytest.fixture
def project(project: Path) -> Path:
    """project/ with DUPLICATES and a file declaring a module of its own, all there before
    the server starts."""
    for n in DUPLICATES:
        (project / n).write_text("module shop.dup\n")
    (project / "k_other.xop").write_text("module shop.other\n")
    return project


async def symbols(client: LanguageClient, query: str) -> list[str]:
    found = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query=query))
    return [s.name for s in found or []]


async def test_a_file_created_in_the_editor_saved_and_closed_stays(
    client: LanguageClient, project: Path
):
    """File > New, typed, saved (the watcher reports the file created while it is open), then
    closed: the file is on disk, so it stays in the workspace, as `xop check` sees it."""
    offers = project / "offers.xop"
    open_doc(client, offers, LIB)
    assert await symbols(client, "upsell") == ["upsell"]
    offers.write_text(LIB)
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=offers.as_uri()))
    )
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=offers.as_uri(), type=types.FileChangeType.Created)]
        )
    )
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=offers.as_uri()))
    )
    assert await symbols(client, "upsell") == ["upsell"]
    # Deleted and closed: gone.
    open_doc(client, offers, LIB, version=2)
    offers.unlink()
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=offers.as_uri(), type=types.FileChangeType.Deleted)]
        )
    )
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=offers.as_uri()))
    )
    assert await symbols(client, "upsell") == []


def cli_e0202(project: Path) -> set[str]:
    """The files `xop check` reports E0202 on (their names)."""
    out = subprocess.run(
        [xop_binary(), "check", "--format", "json", "."],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(out.stdout)
    return {Path(d["file"]).name for d in report["diagnostics"] if d["code"] == "E0202"}


async def test_e0202_lands_where_xop_check_puts_it_also_after_an_edit(
    client: LanguageClient, project: Path
):
    """Files that declare one module, loaded on start: the server reports E0202 on the files
    `xop check` reports it on (all but the first in file-name order), whatever order the
    folder lists them in, and again after an edit makes one more file declare it."""

    async def lsp_e0202() -> set[str]:
        found = set()
        for n in DUPLICATES + ["k_other.xop"]:
            p = await published(client, project / n)
            if "E0202" in codes(p.diagnostics):
                found.add(n)
        return found

    # The diagnostics of start are all published once any file's are.
    await published(client, project / "a_dup.xop")
    assert await lsp_e0202() == cli_e0202(project) == {"m_dup.xop", "z_dup.xop"}
    other = project / "k_other.xop"
    open_doc(client, other)
    edited = "module shop.dup\n"
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=other.as_uri(), version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=edited)],
        )
    )
    await published(client, other, version=2)
    other.write_text(edited)
    assert await lsp_e0202() == cli_e0202(project) == {"k_other.xop", "m_dup.xop", "z_dup.xop"}
