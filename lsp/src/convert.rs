//! Every conversion between the server's values and the protocol's types (`ls_types`) lives
//! here, so that a change of the protocol crate touches this file only: positions (UTF-16)
//! and byte spans, URIs and paths, and each feature's result.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tower_lsp_server::ls_types::{
    self as lsp, CodeActionKind, CompletionItemKind, DiagnosticRelatedInformation,
    DiagnosticSeverity, DocumentSymbol, FoldingRangeKind, Location, MarkupContent, MarkupKind,
    NumberOrString, Position, Range, SemanticTokenModifier, SemanticTokenType, SemanticTokens,
    SemanticTokensLegend, SymbolKind as LspSymbolKind, TextEdit, Uri, WorkspaceEdit,
};
use xop_compiler::db::SourceFile;
use xop_compiler::diagnostic::{Diagnostic, Severity};
use xop_compiler::resolve::DefKind;
use xop_compiler::span::Span;

use crate::actions::Fix;
use crate::completion::{Completion, Kind};
use crate::folding::{Fold, FoldKind};
use crate::hover::HoverInfo;
use crate::lines::{LineIndex, PositionWalker};
use crate::semantic::{self, TokenType};
use crate::state::Snapshot;
use crate::stdlib::{SCHEME, StdlibLocation};
use crate::symbols::{Symbol, SymbolKind};

// ---- positions

/// The protocol position of byte `offset`.
pub fn position(idx: &LineIndex<'_>, offset: usize) -> Position {
    let (line, character) = idx.position(offset);
    Position { line, character }
}

/// The protocol range of `span` in `text`.
pub fn range(text: &str, span: Span) -> Range {
    let idx = LineIndex::new(text);
    range_in(&idx, span)
}

fn range_in(idx: &LineIndex<'_>, span: Span) -> Range {
    Range {
        start: position(idx, span.start()),
        end: position(idx, span.end()),
    }
}

/// The byte offset of a protocol position in `text`.
pub fn offset(text: &str, p: Position) -> usize {
    LineIndex::new(text).offset(p.line, p.character)
}

/// The byte span of a protocol range in `text`.
pub fn span(text: &str, r: Range) -> Span {
    let idx = LineIndex::new(text);
    Span::new(
        idx.offset(r.start.line, r.start.character),
        idx.offset(r.end.line, r.end.character),
    )
}

/// Applies one content change of `didChange` to `text`: a range edit, or the whole text.
pub fn apply_change(text: &str, change: &lsp::TextDocumentContentChangeEvent) -> String {
    match change.range {
        Some(r) => {
            let s = span(text, r);
            let mut out = String::with_capacity(text.len() + change.text.len());
            out.push_str(&text[..s.start()]);
            out.push_str(&change.text);
            out.push_str(&text[s.end()..]);
            out
        }
        None => change.text.clone(),
    }
}

// ---- URIs

/// The database path of a document: the stdlib's own path for a file of the stdlib folder
/// (or the `xop-stdlib:` scheme), the filesystem path for a `file:` URI, else the URI itself:
/// a document of another scheme (`untitled:`, a diff view's `git:`) is a document of its own,
/// never the file whose path its URI happens to contain.
pub fn path_of(uri: &Uri, stdlib: &StdlibLocation) -> String {
    let text = uri.as_str();
    if let Some(rest) = text.strip_prefix(&format!("{SCHEME}:")) {
        return rest.trim_start_matches('/').to_string();
    }
    if let Some(p) = file_path(uri) {
        if let Some(std) = stdlib.stdlib_path(&p) {
            return std;
        }
        return p.to_string_lossy().into_owned();
    }
    text.to_string()
}

/// The filesystem path of a `file:` URI; `None` for any other scheme.
pub fn file_path(uri: &Uri) -> Option<PathBuf> {
    if !uri.scheme().as_str().eq_ignore_ascii_case("file") {
        return None;
    }
    uri.to_file_path().map(|p| p.into_owned())
}

/// The URI of `file` for the editor.
pub fn uri_of(snap: &Snapshot, file: SourceFile) -> Option<Uri> {
    let path = snap.path(file);
    if snap.is_stdlib(file) {
        return match snap.stdlib.file_path(&path) {
            Some(p) => Uri::from_file_path(p),
            None => format!("{SCHEME}:///{path}").parse().ok(),
        };
    }
    if Path::new(&*path).is_absolute() {
        return Uri::from_file_path(&*path);
    }
    path.parse().ok()
}

/// The locations of `places`, in order (those of a file without a URI left out). Each file's
/// lines are indexed once, however many places it has: indexing them for each place made find
/// references quadratic in the number of uses.
pub fn locations(snap: &Snapshot, places: &[(SourceFile, Span)]) -> Vec<Location> {
    each_location(snap, places).into_iter().flatten().collect()
}

/// The location of each of `places`, in order (`None` for a file without a URI), each file's
/// lines indexed once.
fn each_location(snap: &Snapshot, places: &[(SourceFile, Span)]) -> Vec<Option<Location>> {
    let mut texts: HashMap<SourceFile, (Option<Uri>, Arc<str>)> = HashMap::new();
    for (file, _) in places {
        texts
            .entry(*file)
            .or_insert_with(|| (uri_of(snap, *file), snap.text(*file)));
    }
    let indexes: HashMap<SourceFile, (&Option<Uri>, LineIndex<'_>)> = texts
        .iter()
        .map(|(file, (uri, text))| (*file, (uri, LineIndex::new(text))))
        .collect();
    places
        .iter()
        .map(|(file, span)| {
            let (uri, idx) = indexes.get(file)?;
            Some(Location {
                uri: (*uri).clone()?,
                range: range_in(idx, *span),
            })
        })
        .collect()
}

// ---- diagnostics

/// A compiler diagnostic as the protocol's: code, severity, the message with its label and
/// help, and the secondary labels as related information.
pub fn diagnostic(snap: &Snapshot, text: &str, d: &Diagnostic) -> lsp::Diagnostic {
    diagnostics(snap, text, std::slice::from_ref(d))
        .pop()
        .unwrap_or_default()
}

/// The diagnostics `ds` of one file of text `text`, as [`diagnostic`] converts each, with the
/// lines of each file indexed once (not once per diagnostic, which was quadratic in their
/// number).
pub fn diagnostics(snap: &Snapshot, text: &str, ds: &[Diagnostic]) -> Vec<lsp::Diagnostic> {
    let idx = LineIndex::new(text);
    // Every secondary label's place, converted at once: (diagnostic, message, place).
    let mut labels: Vec<(usize, &str)> = Vec::new();
    let mut places: Vec<(SourceFile, Span)> = Vec::new();
    for (i, d) in ds.iter().enumerate() {
        for l in &d.secondary {
            if let Some(file) = snap.file(&l.file) {
                labels.push((i, &l.message));
                places.push((file, l.span));
            }
        }
    }
    let mut related: Vec<Vec<DiagnosticRelatedInformation>> = vec![Vec::new(); ds.len()];
    for ((i, message), location) in labels.into_iter().zip(each_location(snap, &places)) {
        if let Some(location) = location {
            related[i].push(DiagnosticRelatedInformation {
                location,
                message: message.to_string(),
            });
        }
    }
    ds.iter()
        .zip(related)
        .map(|(d, related)| diagnostic_in(&idx, d, related))
        .collect()
}

fn diagnostic_in(
    idx: &LineIndex<'_>,
    d: &Diagnostic,
    related: Vec<DiagnosticRelatedInformation>,
) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if !d.label.is_empty() {
        message.push_str(&format!("\n{}", d.label));
    }
    if let Some(h) = &d.help {
        message.push_str(&format!("\nhelp: {h}"));
    }
    lsp::Diagnostic {
        range: range_in(idx, d.span),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.to_string())),
        source: Some("xop".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

// ---- features

/// A hover.
pub fn hover(text: &str, h: &HoverInfo) -> lsp::Hover {
    lsp::Hover {
        contents: lsp::HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: h.markdown.clone(),
        }),
        range: Some(range(text, h.span)),
    }
}

/// A completion item.
pub fn completion(c: &Completion) -> lsp::CompletionItem {
    let kind = match c.kind {
        Kind::Keyword => CompletionItemKind::KEYWORD,
        Kind::Module => CompletionItemKind::MODULE,
        Kind::EnumValue | Kind::RiskClass => CompletionItemKind::ENUM_MEMBER,
        Kind::Field => CompletionItemKind::FIELD,
        Kind::Local => CompletionItemKind::VARIABLE,
        Kind::BuiltinType => CompletionItemKind::CLASS,
        Kind::Annotation => CompletionItemKind::PROPERTY,
        Kind::Def(k) => match k {
            DefKind::Record => CompletionItemKind::STRUCT,
            DefKind::Enum => CompletionItemKind::ENUM,
            DefKind::Action | DefKind::Fn | DefKind::Intrinsic | DefKind::Signal => {
                CompletionItemKind::FUNCTION
            }
            DefKind::Role | DefKind::Channel | DefKind::Purpose => CompletionItemKind::CONSTANT,
            DefKind::Event => CompletionItemKind::EVENT,
            DefKind::Policy | DefKind::Decision | DefKind::Journey | DefKind::Agent => {
                CompletionItemKind::MODULE
            }
        },
    };
    lsp::CompletionItem {
        label: c.label.clone(),
        kind: Some(kind),
        detail: c.detail.clone(),
        ..Default::default()
    }
}

fn symbol_kind(k: SymbolKind) -> LspSymbolKind {
    match k {
        SymbolKind::Module => LspSymbolKind::MODULE,
        SymbolKind::Test => LspSymbolKind::METHOD,
        SymbolKind::Field => LspSymbolKind::FIELD,
        SymbolKind::EnumValue => LspSymbolKind::ENUM_MEMBER,
        SymbolKind::Rule => LspSymbolKind::KEY,
        SymbolKind::State => LspSymbolKind::OBJECT,
        SymbolKind::Def(d) => match d {
            DefKind::Record => LspSymbolKind::STRUCT,
            DefKind::Enum => LspSymbolKind::ENUM,
            DefKind::Action | DefKind::Fn | DefKind::Intrinsic | DefKind::Signal => {
                LspSymbolKind::FUNCTION
            }
            DefKind::Role | DefKind::Channel | DefKind::Purpose => LspSymbolKind::CONSTANT,
            DefKind::Event => LspSymbolKind::EVENT,
            DefKind::Policy | DefKind::Decision | DefKind::Journey | DefKind::Agent => {
                LspSymbolKind::CLASS
            }
        },
    }
}

/// The document symbols `syms` of text `text`, its lines indexed once.
pub fn document_symbols(text: &str, syms: &[Symbol]) -> Vec<DocumentSymbol> {
    let idx = LineIndex::new(text);
    syms.iter().map(|s| document_symbol_in(&idx, s)).collect()
}

#[allow(deprecated)] // `deprecated` is a required field of the protocol's struct
fn document_symbol_in(idx: &LineIndex<'_>, s: &Symbol) -> DocumentSymbol {
    let range = range_in(idx, s.span);
    let mut selection = range_in(idx, s.selection);
    // The protocol requires the selection inside the range.
    if s.selection.start() < s.span.start() || s.selection.end() > s.span.end() {
        selection = range;
    }
    DocumentSymbol {
        name: if s.name.is_empty() {
            "_".into()
        } else {
            s.name.clone()
        },
        detail: s.detail.clone(),
        kind: symbol_kind(s.kind),
        tags: None,
        deprecated: None,
        range,
        selection_range: selection,
        children: (!s.children.is_empty()).then(|| {
            s.children
                .iter()
                .map(|c| document_symbol_in(idx, c))
                .collect()
        }),
    }
}

/// The workspace symbols `syms` (file, symbol, container), each file's lines indexed once
/// (those of a file without a URI left out).
pub fn workspace_symbols(
    snap: &Snapshot,
    syms: &[(SourceFile, Symbol, String)],
) -> Vec<lsp::WorkspaceSymbol> {
    let places: Vec<(SourceFile, Span)> = syms.iter().map(|(f, s, _)| (*f, s.selection)).collect();
    syms.iter()
        .zip(each_location(snap, &places))
        .filter_map(|((_, s, container), loc)| workspace_symbol_at(s, container, loc?))
        .collect()
}

fn workspace_symbol_at(
    s: &Symbol,
    container: &str,
    location: Location,
) -> Option<lsp::WorkspaceSymbol> {
    Some(lsp::WorkspaceSymbol {
        name: s.name.clone(),
        kind: symbol_kind(s.kind),
        tags: None,
        container_name: (!container.is_empty()).then(|| container.to_string()),
        location: lsp::OneOf::Left(location),
        data: None,
    })
}

/// Edits of one text.
pub fn text_edits(text: &str, edits: &[(Span, String)]) -> Vec<TextEdit> {
    let idx = LineIndex::new(text);
    edits
        .iter()
        .map(|(s, new)| TextEdit {
            range: range_in(&idx, *s),
            new_text: new.clone(),
        })
        .collect()
}

/// A whole-document replacement (formatting).
pub fn replace_all(text: &str, new: String) -> Vec<TextEdit> {
    text_edits(text, &[(Span::new(0, text.len()), new)])
}

/// A workspace edit over several files.
pub fn workspace_edit(
    snap: &Snapshot,
    edits: &[(SourceFile, Vec<(Span, String)>)],
) -> WorkspaceEdit {
    let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for (file, es) in edits {
        if let Some(uri) = uri_of(snap, *file) {
            changes
                .entry(uri)
                .or_default()
                .extend(text_edits(&snap.text(*file), es));
        }
    }
    WorkspaceEdit {
        changes: Some(changes),
        ..Default::default()
    }
}

/// A quick fix as a code action.
pub fn code_action(snap: &Snapshot, file: SourceFile, fix: &Fix) -> lsp::CodeActionOrCommand {
    let text = snap.text(file);
    lsp::CodeActionOrCommand::CodeAction(lsp::CodeAction {
        title: fix.title.clone(),
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![diagnostic(snap, &text, &fix.diagnostic)]),
        edit: Some(workspace_edit(snap, &[(file, fix.edits.clone())])),
        is_preferred: Some(fix.preferred),
        ..Default::default()
    })
}

/// A folding range.
pub fn folding_range(f: &Fold) -> lsp::FoldingRange {
    lsp::FoldingRange {
        start_line: f.start,
        end_line: f.end,
        kind: Some(match f.kind {
            FoldKind::Region => FoldingRangeKind::Region,
            FoldKind::Comment => FoldingRangeKind::Comment,
            FoldKind::Imports => FoldingRangeKind::Imports,
        }),
        ..Default::default()
    }
}

fn token_type(t: TokenType) -> SemanticTokenType {
    match t {
        TokenType::Keyword => SemanticTokenType::KEYWORD,
        TokenType::Namespace => SemanticTokenType::NAMESPACE,
        TokenType::Struct => SemanticTokenType::STRUCT,
        TokenType::Enum => SemanticTokenType::ENUM,
        TokenType::EnumMember => SemanticTokenType::ENUM_MEMBER,
        TokenType::Function => SemanticTokenType::FUNCTION,
        TokenType::Variable => SemanticTokenType::VARIABLE,
        TokenType::Parameter => SemanticTokenType::PARAMETER,
        TokenType::Property => SemanticTokenType::PROPERTY,
        TokenType::String => SemanticTokenType::STRING,
        TokenType::Number => SemanticTokenType::NUMBER,
        TokenType::Comment => SemanticTokenType::COMMENT,
        TokenType::Decorator => SemanticTokenType::DECORATOR,
        TokenType::Class => SemanticTokenType::CLASS,
        TokenType::Type => SemanticTokenType::TYPE,
    }
}

/// The semantic tokens legend the server announces.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: semantic::TOKEN_TYPES
            .iter()
            .map(|t| token_type(*t))
            .collect(),
        token_modifiers: vec![
            SemanticTokenModifier::DECLARATION,
            SemanticTokenModifier::DEFAULT_LIBRARY,
        ],
    }
}

/// Tokens in the protocol's relative encoding; a token spanning lines is cut at its first
/// line's end (multi-line tokens are optional for clients). `tokens` are in order and do not
/// overlap (as [`semantic::tokens`] gives them), so positions are counted on from the previous
/// token's: linear in the text, however long its lines. `check` is called every
/// [`CHECK_EVERY`] tokens: the server passes salsa's cancellation check, which unwinds when
/// the request was cancelled or an edit arrived, so that a long file does not hold the
/// snapshot (and every write waiting for it) to the end.
pub fn semantic_tokens(
    text: &str,
    tokens: &[semantic::Token],
    mut check: impl FnMut(),
) -> SemanticTokens {
    let idx = LineIndex::new(text);
    let mut walker = PositionWalker::new(&idx);
    let mut data = Vec::with_capacity(tokens.len());
    let (mut prev_line, mut prev_col) = (0u32, 0u32);
    for (i, t) in tokens.iter().enumerate() {
        if i % CHECK_EVERY == 0 {
            check();
        }
        let (line, col) = walker.position(t.span.start());
        // The end, or the end of the token's first line: further along the same line.
        let end = t.span.end().min(idx.line_end(line as usize));
        let length = walker.position(end).1.saturating_sub(col);
        if length == 0 {
            continue;
        }
        let delta_line = line.saturating_sub(prev_line);
        let delta_start = if delta_line == 0 {
            col.saturating_sub(prev_col)
        } else {
            col
        };
        data.push(lsp::SemanticToken {
            delta_line,
            delta_start,
            length,
            token_type: semantic::TOKEN_TYPES
                .iter()
                .position(|x| *x == t.ty)
                .and_then(|i| u32::try_from(i).ok())
                .unwrap_or(0),
            token_modifiers_bitset: t.modifiers,
        });
        (prev_line, prev_col) = (line, col);
    }
    SemanticTokens {
        result_id: None,
        data,
    }
}

/// How many semantic tokens are converted between two cancellation checks: a check is cheap
/// (an atomic load), a thousand tokens take well under a millisecond.
pub const CHECK_EVERY: usize = 1024;

/// What the server can do.
pub fn capabilities() -> lsp::ServerCapabilities {
    use lsp::{
        CodeActionOptions, CodeActionProviderCapability, CompletionOptions,
        FoldingRangeProviderCapability, HoverProviderCapability, OneOf, RenameOptions,
        SemanticTokensFullOptions, SemanticTokensOptions, SemanticTokensServerCapabilities,
        TextDocumentSyncCapability, TextDocumentSyncKind,
    };
    lsp::ServerCapabilities {
        position_encoding: Some(lsp::PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "@".into()]),
            ..Default::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..Default::default()
        })),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: None,
                ..Default::default()
            },
        )),
        folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
        ..Default::default()
    }
}

/// The file watchers the server registers (`client/registerCapability`): every `.xop` file,
/// and deletions of anything, so that a deleted folder is seen (a client reports it as one
/// event, for the folder).
pub fn file_watchers() -> lsp::Registration {
    let watcher = |glob: &str, kind| lsp::FileSystemWatcher {
        glob_pattern: lsp::GlobPattern::String(glob.into()),
        kind,
    };
    let options = lsp::DidChangeWatchedFilesRegistrationOptions {
        watchers: vec![
            watcher("**/*.xop", None),
            // Folders: created (or renamed or moved in) to load their files, deleted to
            // forget them. A folder's events do not match `**/*.xop`.
            watcher(
                "**/*",
                Some(lsp::WatchKind::Create | lsp::WatchKind::Delete),
            ),
        ],
    };
    lsp::Registration {
        id: "xop-watched-files".into(),
        method: "workspace/didChangeWatchedFiles".into(),
        register_options: serde_json::to_value(options).ok(),
    }
}

/// The request error for a message the user should see.
pub fn request_failed(message: impl Into<String>) -> tower_lsp_server::jsonrpc::Error {
    tower_lsp_server::jsonrpc::Error {
        code: tower_lsp_server::jsonrpc::ErrorCode::ServerError(-32803),
        message: message.into().into(),
        data: None,
    }
}

/// The request error for work made stale by an edit.
pub fn content_modified() -> tower_lsp_server::jsonrpc::Error {
    tower_lsp_server::jsonrpc::Error::new(tower_lsp_server::jsonrpc::ErrorCode::ContentModified)
}

/// The request error for a request that failed inside the server.
pub fn internal_error(message: impl Into<String>) -> tower_lsp_server::jsonrpc::Error {
    tower_lsp_server::jsonrpc::Error {
        code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
        message: message.into().into(),
        data: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::snapshot;

    #[test]
    fn range_edits_count_utf16_units() {
        // `😀` is two UTF-16 units: the edit replaces `x`, not half the emoji.
        let text = "a😀x\nb";
        let change = lsp::TextDocumentContentChangeEvent {
            range: Some(Range {
                start: Position {
                    line: 0,
                    character: 3,
                },
                end: Position {
                    line: 0,
                    character: 4,
                },
            }),
            range_length: None,
            text: "yz".into(),
        };
        assert_eq!(apply_change(text, &change), "a😀yz\nb");
        assert_eq!(
            range(text, Span::new(5, 6)).start,
            Position {
                line: 0,
                character: 3
            }
        );
        let whole = lsp::TextDocumentContentChangeEvent {
            range: None,
            range_length: None,
            text: "new".into(),
        };
        assert_eq!(apply_change(text, &whole), "new");
    }

    #[test]
    fn tokens_are_relative() {
        let text = "ab cd\n  ef";
        let t = |s: usize, e: usize| semantic::Token {
            span: Span::new(s, e),
            ty: TokenType::Keyword,
            modifiers: 0,
        };
        let out = semantic_tokens(text, &[t(0, 2), t(3, 5), t(8, 10)], || {});
        let rel: Vec<(u32, u32, u32)> = out
            .data
            .iter()
            .map(|d| (d.delta_line, d.delta_start, d.length))
            .collect();
        assert_eq!(rel, vec![(0, 0, 2), (0, 3, 2), (1, 2, 2)]);
        // Non-ASCII text and a token cut at its line's end (`"é\r\n"` spans the break).
        let text = "é \"é\r\nx\" y";
        let out = semantic_tokens(text, &[t(0, 2), t(3, 10), t(11, 12)], || {});
        let rel: Vec<(u32, u32, u32)> = out
            .data
            .iter()
            .map(|d| (d.delta_line, d.delta_start, d.length))
            .collect();
        assert_eq!(rel, vec![(0, 0, 1), (0, 2, 2), (1, 3, 1)]);
    }

    #[test]
    fn tokens_of_one_long_line_are_linear_and_checked_for_cancellation() {
        let n = 5_000;
        let text = format!("fn f(): Bool = true{}", " or true".repeat(n));
        let t = |s: usize, e: usize| semantic::Token {
            span: Span::new(s, e),
            ty: TokenType::Keyword,
            modifiers: 0,
        };
        let tokens: Vec<semantic::Token> = text
            .match_indices("true")
            .map(|(i, w)| t(i, i + w.len()))
            .collect();
        crate::lines::COUNTED.with(|c| c.set(0));
        let mut checks = 0;
        let out = semantic_tokens(&text, &tokens, || checks += 1);
        assert_eq!(out.data.len(), n + 1);
        assert!(out.data[1..].iter().all(|d| d.delta_start == 8));
        // Each byte is counted about once, not once per token before it.
        let counted = crate::lines::COUNTED.with(|c| c.get());
        assert!(counted <= 2 * text.len(), "{counted} bytes counted");
        assert_eq!(checks, (n + 1).div_ceil(CHECK_EVERY));
    }

    #[test]
    fn diagnostics_keep_code_help_and_related_locations() {
        let (_st, snap) = snapshot(&[(
            "/w/a.xop",
            "module a\nrecord R { x: Int }\nrecord R { y: Int }\n",
        )]);
        let file = snap.file("/w/a.xop").expect("file");
        let text = snap.text(file);
        let d = xop_compiler::db::file_diagnostics(&snap.db, snap.project, file)
            .iter()
            .find(|d| d.code == "E0206")
            .cloned()
            .expect("a duplicate");
        let l = diagnostic(&snap, &text, &d);
        assert_eq!(l.code, Some(NumberOrString::String("E0206".into())));
        assert_eq!(l.severity, Some(DiagnosticSeverity::ERROR));
        assert!(l.message.contains("help: "), "{}", l.message);
        let related = l.related_information.expect("first definition");
        assert_eq!(
            related[0].location.range.start,
            Position {
                line: 1,
                character: 7
            }
        );
    }

    #[test]
    fn only_file_uris_are_paths() {
        let uri = |s: &str| s.parse::<Uri>().expect("a uri");
        let std = StdlibLocation::Scheme;
        assert_eq!(path_of(&uri("file:///w/a.xop"), &std), "/w/a.xop");
        assert_eq!(path_of(&uri("FILE:///w/a.xop"), &std), "/w/a.xop");
        for other in [
            "untitled:Untitled-1",
            "git:/w/a.xop?%7B%22ref%22%3A%22HEAD%22%7D",
            "inmemory://model/1",
        ] {
            assert_eq!(path_of(&uri(other), &std), other);
            assert_eq!(file_path(&uri(other)), None, "{other}");
        }
        // Each is its own document, published under its own URI.
        let (_st, snap) = snapshot(&[
            ("/w/a.xop", "module a\n"),
            ("git:/w/a.xop?%7B%22ref%22%3A%22HEAD%22%7D", "module a\n"),
            ("inmemory://model/1", "module m\n"),
        ]);
        for (path, uri) in [
            ("/w/a.xop", "file:///w/a.xop"),
            (
                "git:/w/a.xop?%7B%22ref%22%3A%22HEAD%22%7D",
                "git:/w/a.xop?%7B%22ref%22%3A%22HEAD%22%7D",
            ),
            ("inmemory://model/1", "inmemory://model/1"),
        ] {
            let file = snap.file(path).expect("a document");
            assert_eq!(uri_of(&snap, file).expect("a uri").as_str(), uri);
        }
    }

    #[test]
    fn stdlib_uris_map_back_to_stdlib_paths() {
        let (_st, snap) = snapshot(&[]);
        let std = snap.file("std/consent.xop").expect("stdlib file");
        let uri = uri_of(&snap, std).expect("a uri");
        assert_eq!(uri.as_str(), "xop-stdlib:///std/consent.xop");
        assert_eq!(path_of(&uri, &snap.stdlib), "std/consent.xop");
        let dir = std::env::temp_dir().join(format!("xop-convert-{}", std::process::id()));
        let loc = StdlibLocation::install_in(&dir);
        let file_uri =
            Uri::from_file_path(loc.file_path("std/time.xop").expect("a path")).expect("uri");
        assert_eq!(path_of(&file_uri, &loc), "std/time.xop");
        let other = Uri::from_file_path("/work/x.xop").expect("uri");
        assert_eq!(path_of(&other, &loc), "/work/x.xop");
        let _ = std::fs::remove_dir_all(dir);
    }
}
