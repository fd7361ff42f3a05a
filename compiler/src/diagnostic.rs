//! Diagnostics: what the compiler tells the author, as values.
//!
//! Every diagnostic has a stable code from [`crate::codes`], a message that says what is wrong,
//! labelled spans, and usually a help line that says how to fix it. Rendering (ariadne for the
//! terminal, JSON, SARIF) lives in [`crate::render`]; the language server converts the same values.

use std::sync::Arc;

use serde::Serialize;

use crate::compliance::ConsentGuard;
use crate::span::Span;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; does not fail `xop check`.
    Warning,
    /// The program is wrong; `xop check` exits 1.
    Error,
}

/// A span in a named file, with a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Label {
    /// The file's path as given to the compiler (`std/consent.xop` for the stdlib).
    pub file: Arc<str>,
    /// Where.
    pub span: Span,
    /// What is there.
    pub message: String,
}

/// One thing the compiler has to say about the source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Diagnostic {
    /// The stable code, e.g. `E0204` (documented in docs/errors.md).
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// One sentence: what is wrong.
    pub message: String,
    /// The file the diagnostic is about.
    pub file: Arc<str>,
    /// The main location.
    pub span: Span,
    /// What to say at the main location (may be empty).
    pub label: String,
    /// Further locations, possibly in other files (the declaration that makes a rule required).
    pub secondary: Vec<Label>,
    /// Background: why it matters, what the compiler assumed.
    pub notes: Vec<String>,
    /// How to fix it.
    pub help: Option<String>,
    /// What a tool needs to fix it (the language server's quick fixes), beyond the text: not
    /// rendered nor serialized, so that the output stays what the text says.
    #[serde(skip)]
    pub fix: Option<FixData>,
}

/// Machine-readable data for a diagnostic's fix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FixData {
    /// C0005: the consent guard the checker requires of a policy of the action, which the fix
    /// writes in the file's own names.
    ConsentGuard(Arc<ConsentGuard>),
}

impl Diagnostic {
    /// An error with code `code` at `span` of `file`.
    pub fn error(
        code: &'static str,
        file: &Arc<str>,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            file: file.clone(),
            span,
            label: String::new(),
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
            fix: None,
        }
    }

    /// A warning with code `code` at `span` of `file`.
    pub fn warning(
        code: &'static str,
        file: &Arc<str>,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, span, message)
        }
    }

    /// Sets what the main label says.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Adds a secondary label.
    pub fn with_secondary(
        mut self,
        file: &Arc<str>,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        self.secondary.push(Label {
            file: file.clone(),
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the data for a tool's fix.
    pub fn with_fix(mut self, fix: FixData) -> Self {
        self.fix = Some(fix);
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Orders diagnostics for output: by file, then position, then code.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (&a.file, a.span.start(), a.span.end(), a.code).cmp(&(
            &b.file,
            b.span.start(),
            b.span.end(),
            b.code,
        ))
    });
}
