//! The protocol front: `tower-lsp-server`'s [`LanguageServer`] over the [`State`].
//!
//! Notifications that change documents write to the database synchronously, at the top of
//! their handler and before any `.await`, so edits apply in the order they arrive. Requests and
//! diagnostics run on a [`Snapshot`] inside a blocking task: an edit cancels them (salsa's
//! cancellation, caught by [`salsa::Cancelled::catch`]) and the request answers "content
//! modified"; a panic in a query becomes an "internal error" answer and the server goes on.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{
    self as lsp, CodeActionParams, CodeActionResponse, CompletionParams, CompletionResponse,
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    DocumentFormattingParams, DocumentSymbolParams, DocumentSymbolResponse, FoldingRange,
    FoldingRangeParams, GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverParams,
    InitializeParams, InitializeResult, Location, Position, PrepareRenameResponse, ReferenceParams,
    RenameParams, SemanticTokensParams, SemanticTokensResult, ServerInfo,
    TextDocumentPositionParams, TextEdit, Uri, WorkspaceEdit, WorkspaceSymbolParams,
    WorkspaceSymbolResponse,
};
use tower_lsp_server::{Client, LanguageServer};
use xop_compiler::db::SourceFile;

use crate::state::{Snapshot, State};
use crate::stdlib::StdlibLocation;
use crate::{
    actions, completion, convert, diagnostics, folding, formatting, hover, navigation, semantic,
    symbols,
};

/// What was last published for each document: the diagnostics and the version.
type Published = HashMap<Uri, (Vec<lsp::Diagnostic>, Option<i32>)>;

/// The language server.
pub struct Backend {
    client: Client,
    state: Arc<Mutex<State>>,
    /// Bumped by every edit; diagnostics computed for an older one are not published.
    generation: Arc<AtomicU64>,
    published: Arc<tokio::sync::Mutex<Published>>,
}

impl Backend {
    /// A server that talks to `client`.
    pub fn new(client: Client) -> Backend {
        Backend {
            client,
            state: Arc::new(Mutex::new(State::new(StdlibLocation::Scheme))),
            generation: Arc::default(),
            published: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Applies a change to the state; a panic is contained (the edit is lost, not the server).
    fn write(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.lock();
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut state)));
    }

    /// Runs `f` on a snapshot in a blocking task. The snapshot is taken and dropped inside
    /// the task: one waiting in a queue of the async runtime could block a write (which waits
    /// for every snapshot) on a worker that the queued task needs.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Snapshot) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let state = self.state.clone();
        run_guarded(move || {
            // The lock is released before the work starts, so that an edit can cancel it.
            let snap = lock(&state).snapshot();
            f(&snap)
        })
        .await
    }

    /// Recomputes and publishes the diagnostics of every file, in the background.
    fn refresh(&self) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let state = self.state.clone();
        let latest = self.generation.clone();
        let published = self.published.clone();
        let client = self.client.clone();
        tokio::spawn(async move {
            let computed = run_guarded(move || {
                let snap = lock(&state).snapshot();
                Ok(diagnostics_to_publish(&snap))
            })
            .await;
            let Ok(list) = computed else {
                // Cancelled by a newer edit, which publishes its own.
                return;
            };
            let mut last = published.lock().await;
            if latest.load(Ordering::SeqCst) != generation {
                return;
            }
            let mut seen = HashSet::new();
            for (uri, version, diags) in list {
                seen.insert(uri.clone());
                let entry = (diags, version);
                if last.get(&uri) == Some(&entry) {
                    continue;
                }
                client
                    .publish_diagnostics(uri.clone(), entry.0.clone(), version)
                    .await;
                last.insert(uri, entry);
            }
            let gone: Vec<Uri> = last
                .keys()
                .filter(|u| !seen.contains(*u))
                .cloned()
                .collect();
            for uri in gone {
                client
                    .publish_diagnostics(uri.clone(), Vec::new(), None)
                    .await;
                last.remove(&uri);
            }
        });
    }
}

/// Locks the state. A panic while writing leaves the database consistent (salsa's inputs are
/// set whole), so a poisoned lock is still usable.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` in a blocking task: salsa cancellation becomes "content modified", a panic
/// "internal error".
pub async fn run_guarded<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let task = tokio::task::spawn_blocking(move || salsa::Cancelled::catch(AssertUnwindSafe(f)));
    match task.await {
        Ok(Ok(result)) => result,
        Ok(Err(_cancelled)) => Err(convert::content_modified()),
        Err(e) => Err(convert::internal_error(format!(
            "the request failed inside the server: {}",
            panic_message(e)
        ))),
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string()),
        Err(e) => e.to_string(),
    }
}

/// What the server publishes after an edit: every file's diagnostics, converted, with its URI
/// and version (the benchmark measures exactly this).
pub fn diagnostics_to_publish(snap: &Snapshot) -> Vec<(Uri, Option<i32>, Vec<lsp::Diagnostic>)> {
    diagnostics::all(snap)
        .into_iter()
        .filter_map(|fd| {
            let uri = convert::uri_of(snap, fd.file)?;
            let text = snap.text(fd.file);
            let diags = fd
                .diagnostics
                .iter()
                .map(|d| convert::diagnostic(snap, &text, d))
                .collect();
            Some((uri, fd.version, diags))
        })
        .collect()
}

/// The file of `uri` and the byte offset of `pos` in it.
fn locate(snap: &Snapshot, uri: &Uri, pos: Position) -> Result<(SourceFile, usize)> {
    let file = document(snap, uri)?;
    Ok((file, convert::offset(&snap.text(file), pos)))
}

fn document(snap: &Snapshot, uri: &Uri) -> Result<SourceFile> {
    let path = convert::path_of(uri, &snap.stdlib);
    snap.file(&path).ok_or_else(|| {
        tower_lsp_server::jsonrpc::Error::invalid_params(format!(
            "unknown document {}: open it first",
            uri.as_str()
        ))
    })
}

fn position_params(p: &TextDocumentPositionParams) -> (Uri, Position) {
    (p.text_document.uri.clone(), p.position)
}

/// The folders of the workspace, from `workspaceFolders` or the older `rootUri`.
fn roots(params: &InitializeParams) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = params
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned()))
        .collect();
    #[allow(deprecated)] // older clients send only `rootUri`
    if out.is_empty()
        && let Some(p) = params.root_uri.as_ref().and_then(|u| u.to_file_path())
    {
        out.push(p.into_owned());
    }
    out
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let roots = roots(&params);
        self.write(move |state| {
            *state = State::new(StdlibLocation::install());
            for root in &roots {
                state.load_folder(root);
            }
        });
        Ok(InitializeResult {
            capabilities: convert::capabilities(),
            server_info: Some(ServerInfo {
                name: "xop".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            ..Default::default()
        })
    }

    async fn initialized(&self, _: lsp::InitializedParams) {
        // Workspace files that are not open get their diagnostics too.
        self.refresh();
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.write(|state| {
            let path = convert::path_of(&doc.uri, state.stdlib());
            state.open(&path, &doc.text, doc.version);
        });
        self.refresh();
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let doc = params.text_document;
        let changes = params.content_changes;
        self.write(|state| {
            let path = convert::path_of(&doc.uri, state.stdlib());
            state.change(&path, doc.version, |old| {
                changes
                    .iter()
                    .fold(old.to_string(), |text, c| convert::apply_change(&text, c))
            });
        });
        self.refresh();
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.write(|state| {
            let path = convert::path_of(&uri, state.stdlib());
            state.close(&path);
        });
        self.refresh();
    }

    async fn did_change_watched_files(&self, params: lsp::DidChangeWatchedFilesParams) {
        self.write(|state| {
            for change in &params.changes {
                let Some(fs) = change.uri.to_file_path() else {
                    continue;
                };
                if fs.extension().is_some_and(|e| e == "xop") {
                    let path = convert::path_of(&change.uri, state.stdlib());
                    state.reload(&path, &fs);
                }
            }
        });
        self.refresh();
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let (uri, pos) = position_params(&params.text_document_position_params);
        self.read(move |snap| {
            let (file, offset) = locate(snap, &uri, pos)?;
            Ok(hover::hover(snap, file, offset).map(|h| convert::hover(&snap.text(file), &h)))
        })
        .await
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let (uri, pos) = position_params(&params.text_document_position_params);
        self.read(move |snap| {
            let (file, offset) = locate(snap, &uri, pos)?;
            Ok(navigation::definition(snap, file, offset)
                .and_then(|(f, s)| convert::location(snap, f, s))
                .map(GotoDefinitionResponse::Scalar))
        })
        .await
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let (uri, pos) = position_params(&params.text_document_position);
        let include = params.context.include_declaration;
        self.read(move |snap| {
            let (file, offset) = locate(snap, &uri, pos)?;
            let locs: Vec<Location> = navigation::references(snap, file, offset, include)
                .into_iter()
                .filter_map(|(f, s)| convert::location(snap, f, s))
                .collect();
            Ok(Some(locs))
        })
        .await
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let (uri, pos) = position_params(&params.text_document_position);
        self.read(move |snap| {
            let (file, offset) = locate(snap, &uri, pos)?;
            let items = completion::complete(snap, file, offset)
                .iter()
                .map(convert::completion)
                .collect();
            Ok(Some(CompletionResponse::Array(items)))
        })
        .await
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let uri = params.text_document.uri;
        self.read(move |snap| {
            let file = document(snap, &uri)?;
            let text = snap.text(file);
            let syms = symbols::document(snap, file)
                .iter()
                .map(|s| convert::document_symbol(&text, s))
                .collect();
            Ok(Some(DocumentSymbolResponse::Nested(syms)))
        })
        .await
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> Result<Option<WorkspaceSymbolResponse>> {
        let query = params.query;
        self.read(move |snap| {
            let syms = symbols::workspace(snap, &query)
                .iter()
                .filter_map(|(f, s, container)| convert::workspace_symbol(snap, *f, s, container))
                .collect();
            Ok(Some(WorkspaceSymbolResponse::Nested(syms)))
        })
        .await
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let uri = params.text_document.uri;
        self.read(move |snap| {
            let file = document(snap, &uri)?;
            match formatting::format(snap, file) {
                Ok(Some(new)) => Ok(Some(convert::replace_all(&snap.text(file), new))),
                Ok(None) => Ok(Some(Vec::new())),
                Err(e) => Err(convert::request_failed(e)),
            }
        })
        .await
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        let (uri, pos) = position_params(&params);
        self.read(move |snap| {
            let (file, offset) = locate(snap, &uri, pos)?;
            match navigation::prepare_rename(snap, file, offset) {
                Ok(span) => Ok(Some(PrepareRenameResponse::Range(convert::range(
                    &snap.text(file),
                    span,
                )))),
                Err(e) => Err(convert::request_failed(e)),
            }
        })
        .await
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let (uri, pos) = position_params(&params.text_document_position);
        let new_name = params.new_name;
        self.read(move |snap| {
            let (file, offset) = locate(snap, &uri, pos)?;
            match navigation::rename(snap, file, offset, &new_name) {
                Ok(edits) => Ok(Some(convert::workspace_edit(snap, &edits))),
                Err(e) => Err(convert::request_failed(e)),
            }
        })
        .await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let range = params.range;
        self.read(move |snap| {
            let file = document(snap, &uri)?;
            let span = convert::span(&snap.text(file), range);
            let actions = actions::fixes(snap, file, span)
                .iter()
                .map(|f| convert::code_action(snap, file, f))
                .collect();
            Ok(Some(actions))
        })
        .await
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        let uri = params.text_document.uri;
        self.read(move |snap| {
            let file = document(snap, &uri)?;
            let tokens = semantic::tokens(snap, file);
            Ok(Some(SemanticTokensResult::Tokens(
                convert::semantic_tokens(&snap.text(file), &tokens),
            )))
        })
        .await
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        let uri = params.text_document.uri;
        self.read(move |snap| {
            let file = document(snap, &uri)?;
            Ok(Some(
                folding::folds(snap, file)
                    .iter()
                    .map(convert::folding_range)
                    .collect(),
            ))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::jsonrpc::ErrorCode;

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let r: Result<()> = block_on(run_guarded(|| panic!("boom")));
        let e = r.expect_err("an error");
        assert_eq!(e.code, ErrorCode::InternalError);
        assert!(e.message.contains("boom"), "{}", e.message);
    }

    #[test]
    fn a_cancelled_query_is_content_modified() {
        let r: Result<()> = block_on(run_guarded(|| {
            std::panic::resume_unwind(Box::new(salsa::Cancelled::PendingWrite))
        }));
        assert_eq!(r.expect_err("an error").code, ErrorCode::ContentModified);
        assert_eq!(block_on(run_guarded(|| Ok(7))), Ok(7));
    }
}
