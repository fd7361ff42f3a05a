"""Fixtures for the end-to-end tests: a real `xop lsp` process driven over stdio by
pytest-lsp, on a copy of the `project/` folder (two files that `use` each other)."""

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pygls.protocol import default_converter
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def xop_binary() -> str:
    """The `xop` binary: $XOP_BIN, else the debug build of this checkout."""
    if os.environ.get("XOP_BIN"):
        return os.environ["XOP_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    return str(target / "debug" / "xop")


def make_client() -> LanguageClient:
    """The pytest-lsp client, also keeping every publishDiagnostics with its version and every
    capability the server registers."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []
    client.registrations = []

    def on_publish(client: LanguageClient, params: types.PublishDiagnosticsParams):
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)

    def on_register(client: LanguageClient, params: types.RegistrationParams):
        client.registrations.extend(params.registrations)

    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = on_publish
    features[types.CLIENT_REGISTER_CAPABILITY] = on_register
    register_lsp_features(client, features)
    return client


WORK = Path(os.environ.get("XOP_E2E_DIR", "/tmp")) / f"xop-lsp-e2e-{os.getpid()}"


@pytest.fixture
def project() -> Path:
    """A fresh copy of project/ for each test (the server reads it on initialize)."""
    if WORK.exists():
        shutil.rmtree(WORK)
    shutil.copytree(HERE / "project", WORK / "project")
    (WORK / "cache").mkdir()
    return WORK / "project"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[xop_binary(), "lsp"],
        client_factory=make_client,
        server_env={**os.environ, "XOP_CACHE_DIR": str(WORK / "cache"), "NO_COLOR": "1"},
    ),
)
async def client(lsp_client: LanguageClient, project: Path):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            workspace_folders=[
                types.WorkspaceFolder(uri=project.as_uri(), name="project")
            ],
        )
    )
    yield
    await lsp_client.shutdown_session()
