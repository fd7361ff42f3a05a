// The XOP extension: starts `xop lsp` over stdio and hands .xop files to it. Everything the
// editor shows (diagnostics, hover, completion, fixes, semantic tokens) comes from the server.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("xop").get("server.path", "xop");
  const serverOptions = {
    run: { command, args: ["lsp"], transport: TransportKind.stdio },
    debug: { command, args: ["lsp"], transport: TransportKind.stdio },
  };
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "xop" }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.xop") },
  };
  client = new LanguageClient("xop", "XOP language server", serverOptions, clientOptions);
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
