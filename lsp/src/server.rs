//! The protocol front: `tower-lsp-server`'s [`LanguageServer`] over the [`State`].
//!
//! Notifications that change documents write to the database synchronously, at the top of
//! their handler and before any `.await`, so edits apply in the order they arrive. A request
//! takes its [`Snapshot`] the same way, so it sees exactly the edits that arrived before it, and
//! runs on it inside a blocking task, as diagnostics do: an edit cancels them (salsa's
//! cancellation, caught by [`salsa::Cancelled::catch`]) and the request answers "content
//! modified"; dropping a request (on `$/cancelRequest` or `exit`) cancels its work too; a panic
//! in a query becomes an "internal error" answer and the server goes on.

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
    /// Whether the client registers file watchers that the server asks for.
    watch: std::sync::atomic::AtomicBool,
    /// Whether the client asked for `shutdown`: the process then ends with status 0, else 1
    /// (LSP 3.17, `exit`).
    shut_down: Arc<std::sync::atomic::AtomicBool>,
}

impl Backend {
    /// A server that talks to `client`.
    pub fn new(client: Client) -> Backend {
        Backend {
            client,
            state: Arc::new(Mutex::new(State::new(StdlibLocation::Scheme))),
            generation: Arc::default(),
            published: Arc::default(),
            watch: std::sync::atomic::AtomicBool::new(false),
            shut_down: Arc::default(),
        }
    }

    /// Whether the client has asked for `shutdown`, as a flag that outlives the server (which
    /// the protocol's `Server` consumes): read once the session has ended.
    pub fn shutdown_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.shut_down.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Applies a change to the state; a panic is contained (the edit is lost, not the server).
    fn write(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.lock();
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut state)));
    }

    /// Runs `f` on a snapshot in a blocking task. The snapshot is taken now, when the request
    /// handler first runs and before it awaits anything, so that it holds exactly the edits
    /// received before the request (tower-lsp-server starts handlers in the order messages
    /// arrive); a later edit cancels the work, answered "content modified". The snapshot goes
    /// straight to the blocking pool, never waiting in the async runtime's queue, where it
    /// could block a write (which waits for every snapshot) on a worker the task needs.
    ///
    /// Dropping the returned future (tower-lsp-server does on `$/cancelRequest` and `exit`)
    /// cancels the work: its next salsa query unwinds.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Snapshot) -> Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T>> {
        let snap = self.lock().snapshot();
        // Made before the future, so that dropping it unpolled cancels too.
        let guard = CancelOnDrop(salsa::Database::cancellation_token(&snap.db));
        let task = spawn_guarded(move || f(&snap));
        async move {
            let _guard = guard;
            task.await
        }
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

/// Cancels the salsa queries of one snapshot when dropped: the request was answered or
/// abandoned, and either way its work is no longer needed (after it finished, a no-op).
struct CancelOnDrop(salsa::CancellationToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
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
    spawn_guarded(f).await
}

/// Starts `f` in a blocking task at once (not when the future is first polled), like
/// [`run_guarded`].
fn spawn_guarded<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> impl Future<Output = Result<T>> {
    let task = tokio::task::spawn_blocking(move || salsa::Cancelled::catch(AssertUnwindSafe(f)));
    async move {
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(_cancelled)) => Err(convert::content_modified()),
            Err(e) => Err(convert::internal_error(format!(
                "the request failed inside the server: {}",
                panic_message(e)
            ))),
        }
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
            let diags = convert::diagnostics(snap, &text, &fd.diagnostics);
            Some((uri, fd.version, diags))
        })
        .collect()
}

/// The answer to find references at `offset` of `file`.
pub fn reference_locations(
    snap: &Snapshot,
    file: SourceFile,
    offset: usize,
    include_declaration: bool,
) -> Vec<Location> {
    convert::locations(
        snap,
        &navigation::references(snap, file, offset, include_declaration),
    )
}

/// The answer to rename at `offset` of `file`, or why it is refused.
pub fn rename_edit(
    snap: &Snapshot,
    file: SourceFile,
    offset: usize,
    new_name: &str,
) -> std::result::Result<WorkspaceEdit, String> {
    navigation::rename(snap, file, offset, new_name)
        .map(|edits| convert::workspace_edit(snap, &edits))
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
        .filter_map(|f| convert::file_path(&f.uri))
        .collect();
    #[allow(deprecated)] // older clients send only `rootUri`
    if out.is_empty()
        && let Some(p) = params.root_uri.as_ref().and_then(convert::file_path)
    {
        out.push(p);
    }
    out
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let roots = roots(&params);
        let watch = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|w| w.dynamic_registration)
            .unwrap_or(false);
        self.watch.store(watch, Ordering::SeqCst);
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
        // Most clients (Neovim, Helix) report changes on disk only for the files a server
        // registers watchers for.
        if self.watch.load(Ordering::SeqCst) {
            let client = self.client.clone();
            tokio::spawn(async move {
                if let Err(e) = client
                    .register_capability(vec![convert::file_watchers()])
                    .await
                {
                    eprintln!("xop lsp: the client did not register the file watchers: {e}");
                }
            });
        }
    }

    async fn shutdown(&self) -> Result<()> {
        self.shut_down.store(true, Ordering::SeqCst);
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
                let Some(fs) = convert::file_path(&change.uri) else {
                    continue;
                };
                if change.typ == lsp::FileChangeType::CREATED && fs.is_dir() {
                    // A folder created, or renamed or moved in (a rename is its old name
                    // deleted and its new one created): one event for all the files it holds.
                    state.load_created_folder(&fs);
                } else if fs.extension().is_some_and(|e| e == "xop") {
                    let path = convert::path_of(&change.uri, state.stdlib());
                    state.reload(&path, &fs);
                } else if change.typ == lsp::FileChangeType::DELETED {
                    // A folder: one event for all the files it held.
                    state.forget_folder(&fs);
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
            let mut locs = convert::locations(snap, &navigation::definition(snap, file, offset));
            Ok(match locs.len() {
                0 => None,
                1 => locs.pop().map(GotoDefinitionResponse::Scalar),
                _ => Some(GotoDefinitionResponse::Array(locs)),
            })
        })
        .await
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let (uri, pos) = position_params(&params.text_document_position);
        let include = params.context.include_declaration;
        self.read(move |snap| {
            let (file, offset) = locate(snap, &uri, pos)?;
            Ok(Some(reference_locations(snap, file, offset, include)))
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
            let syms = convert::document_symbols(&text, &symbols::document(snap, file));
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
            let syms = convert::workspace_symbols(snap, &symbols::workspace(snap, &query));
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
            rename_edit(snap, file, offset, &new_name)
                .map(Some)
                .map_err(convert::request_failed)
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
            // The conversion runs no query: it checks for cancellation itself.
            let check = || salsa::Database::unwind_if_revision_cancelled(&snap.db);
            Ok(Some(SemanticTokensResult::Tokens(
                convert::semantic_tokens(&snap.text(file), &tokens, check),
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
    fn dropping_a_request_stops_its_work() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("a runtime");
        let ended = rt.block_on(async {
            let (service, _socket) = tower_lsp_server::LspService::new(Backend::new);
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            // Work that only a salsa cancellation ends; it says so when it does.
            let work = service.inner().read(move |snap| -> Result<()> {
                struct Ended(std::sync::mpsc::Sender<()>);
                impl Drop for Ended {
                    fn drop(&mut self) {
                        let _ = self.0.send(());
                    }
                }
                let _ended = Ended(tx);
                loop {
                    salsa::Database::unwind_if_revision_cancelled(&snap.db);
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            });
            // What tower-lsp-server does with a cancelled request.
            drop(work);
            tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(20)))
                .await
                .expect("the waiter")
        });
        // Without waiting for work that may never end (if this test fails).
        rt.shutdown_background();
        assert!(
            ended.is_ok(),
            "the work goes on after its request was dropped"
        );
    }

    /// The text of a file whose policy has `rules`
    /// rules `deny REASON when c.messages_7d >= i`, each reason written by `reason(i)`.
    fn big_policy(rules: usize, reason: impl Fn(usize) -> String) -> String {
        let rules: String = (0..rules)
            .map(|i| format!("  deny {}when c.messages_7d >= {i}\n", reason(i)))
            .collect();
        format!(
            "module shop.big\nuse shop.customer.Customer\nuse std.consent.service\n\
             action act(to: Customer) purpose service risk minimal\n\
             policy p for act(to: c) {{\n{rules}  allow \"ok\"\n}}\n"
        )
    }

    /// Find references and rename of a local do, besides what each use needs, a fixed amount
    /// of work that does not grow with the number of uses: the file's lines are indexed, and
    /// the item's parameter sites read, as often for 10 uses as for 200. Once per use, both were
    /// quadratic in the uses (seconds at a few thousand).
    #[test]
    fn references_and_rename_of_a_local_are_linear_in_its_uses() {
        use crate::testing::{CUSTOMER, at, snapshot};
        let work = |uses: usize| {
            let text = big_policy(uses, |i| format!("\"r{i}\" "));
            let (_st, snap) = snapshot(&[
                ("/ws/customer.xop", CUSTOMER),
                ("/ws/big.xop", text.as_str()),
            ]);
            let file = snap.file("/ws/big.xop").expect("file");
            let offset = at(&text, "c.messages_7d", 1, 0);
            // The queries both need, computed before counting.
            assert_eq!(
                navigation::references(&snap, file, offset, true).len(),
                uses + 1
            );
            let counted = |f: &dyn Fn()| {
                crate::lines::INDEXED.with(|n| n.set(0));
                crate::params::ITEMS_READ.with(|n| n.set(0));
                f();
                (
                    crate::lines::INDEXED.with(std::cell::Cell::get),
                    crate::params::ITEMS_READ.with(std::cell::Cell::get),
                )
            };
            let references = counted(&|| {
                assert_eq!(
                    reference_locations(&snap, file, offset, true).len(),
                    uses + 1
                );
            });
            let rename = counted(&|| {
                let edit = rename_edit(&snap, file, offset, "cc").expect("renamed");
                let changes = edit.changes.expect("changes");
                assert_eq!(changes.values().map(Vec::len).sum::<usize>(), uses + 1);
            });
            (references, rename)
        };
        assert_eq!(work(10), work(200));
    }

    /// Publishing a file's diagnostics indexes its lines once, however many there are (once
    /// per diagnostic was quadratic in their number).
    #[test]
    fn diagnostics_are_converted_in_time_linear_in_their_number() {
        use crate::testing::{CUSTOMER, snapshot};
        let indexed = |rules: usize| {
            // Each rule without a reason: one C0007 each.
            let text = big_policy(rules, |_| String::new());
            let (_st, snap) = snapshot(&[
                ("/ws/customer.xop", CUSTOMER),
                ("/ws/big.xop", text.as_str()),
            ]);
            let file = snap.file("/ws/big.xop").expect("file");
            let count = xop_compiler::db::file_diagnostics(&snap.db, snap.project, file).len();
            crate::lines::INDEXED.with(|n| n.set(0));
            let published = diagnostics_to_publish(&snap);
            let shown: usize = published.iter().map(|(_, _, ds)| ds.len()).sum();
            assert!(shown >= count, "{shown} < {count}");
            (count, crate::lines::INDEXED.with(std::cell::Cell::get))
        };
        let (few, few_indexed) = indexed(5);
        let (many, many_indexed) = indexed(100);
        assert!(many >= few + 95, "{few} and {many} diagnostics");
        assert_eq!(few_indexed, many_indexed);
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
