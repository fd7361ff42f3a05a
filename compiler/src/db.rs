//! The incremental engine: every phase is a salsa query over the source texts.
//!
//! Inputs are [`SourceFile`]s (path and text) grouped in a [`Project`]; queries parse a file,
//! index the project's modules, resolve a file's names and type-check each item. Every query
//! returns its diagnostics as values, and [`Workspace`] is the front door used by the `xop`
//! command and the language server alike.

use std::sync::Arc;

use salsa::Setter;

use crate::diagnostic::{self, Diagnostic};
use crate::parse::{self, Parsed};

/// The standard library's files, embedded at build time: `(path, text)`.
pub const STDLIB: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/stdlib_files.rs"));

pub use inputs::{Project, SourceFile};

/// The inputs; salsa's macros generate accessors that cannot carry doc comments.
mod inputs {
    #![allow(missing_docs)]
    use std::sync::Arc;

    /// One source file: its path (as shown in diagnostics) and its text.
    #[salsa::input(debug)]
    pub struct SourceFile {
        /// The path, e.g. `examples/contact/contact.xop` or `std/consent.xop`.
        #[returns(ref)]
        pub path: Arc<str>,
        /// The whole text.
        #[returns(ref)]
        pub text: Arc<str>,
        /// Whether the file is part of the standard library.
        pub is_stdlib: bool,
    }

    /// The set of files compiled together.
    #[salsa::input(debug)]
    pub struct Project {
        /// Every file, the standard library's included.
        #[returns(ref)]
        pub files: Vec<SourceFile>,
    }
}

/// The database trait the queries run on.
#[salsa::db]
pub trait Db: salsa::Database {}

/// The concrete database.
#[salsa::db]
#[derive(Clone, Default)]
pub struct Database {
    storage: salsa::Storage<Self>,
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl Db for Database {}

/// Parses one file.
#[salsa::tracked(returns(ref))]
pub fn parse_file(db: &dyn Db, file: SourceFile) -> Parsed {
    parse::parse(file.path(db), file.text(db))
}

/// Every diagnostic of one file: syntax, names and types.
#[salsa::tracked(returns(ref))]
pub fn file_diagnostics(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    let mut out = parse_file(db, file).diagnostics.clone();
    out.extend(crate::check::check_file(db, project, file).iter().cloned());
    diagnostic::sort(&mut out);
    out.dedup();
    out
}

/// A project and its database: what the CLI and the language server hold.
pub struct Workspace {
    db: Database,
    project: Project,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// A workspace with the standard library and no other file.
    pub fn new() -> Workspace {
        let db = Database::default();
        let files = STDLIB
            .iter()
            .map(|(path, text)| SourceFile::new(&db, Arc::from(*path), Arc::from(*text), true))
            .collect();
        let project = Project::new(&db, files);
        Workspace { db, project }
    }

    /// The database, for queries.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The project input.
    pub fn project(&self) -> Project {
        self.project
    }

    /// The file at `path`, if present.
    pub fn file(&self, path: &str) -> Option<SourceFile> {
        self.project
            .files(&self.db)
            .iter()
            .copied()
            .find(|f| &**f.path(&self.db) == path)
    }

    /// Adds the file at `path`, or replaces its text.
    pub fn set_file(&mut self, path: &str, text: impl Into<Arc<str>>) -> SourceFile {
        let text = text.into();
        if let Some(file) = self.file(path) {
            if **file.text(&self.db) != *text {
                file.set_text(&mut self.db).to(text);
            }
            return file;
        }
        let file = SourceFile::new(&self.db, Arc::from(path), text, false);
        let mut files = self.project.files(&self.db).clone();
        files.push(file);
        self.project.set_files(&mut self.db).to(files);
        file
    }

    /// Removes the file at `path`, if present.
    pub fn remove_file(&mut self, path: &str) {
        let mut files = self.project.files(&self.db).clone();
        let before = files.len();
        files.retain(|f| &**f.path(&self.db) != path);
        if files.len() != before {
            self.project.set_files(&mut self.db).to(files);
        }
    }

    /// The text of a file by path (standard library included).
    pub fn source(&self, path: &str) -> Option<Arc<str>> {
        self.file(path).map(|f| f.text(&self.db).clone())
    }

    /// The diagnostics of one file.
    pub fn file_diagnostics(&self, file: SourceFile) -> Vec<Diagnostic> {
        file_diagnostics(&self.db, self.project, file).clone()
    }

    /// The diagnostics of every file that is not part of the standard library, sorted.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut out: Vec<Diagnostic> = self
            .project
            .files(&self.db)
            .iter()
            .filter(|f| !*f.is_stdlib(&self.db))
            .flat_map(|f| file_diagnostics(&self.db, self.project, *f).iter().cloned())
            .collect();
        diagnostic::sort(&mut out);
        out
    }

    /// The diagnostics of the standard library itself (empty unless the stdlib is broken).
    pub fn stdlib_diagnostics(&self) -> Vec<Diagnostic> {
        self.project
            .files(&self.db)
            .iter()
            .filter(|f| *f.is_stdlib(&self.db))
            .flat_map(|f| file_diagnostics(&self.db, self.project, *f).iter().cloned())
            .collect()
    }
}
