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

impl Database {
    /// A database that reports every salsa event to `on_event` (tests use it to see which
    /// queries re-run after an edit).
    pub fn with_events(on_event: impl Fn(salsa::Event) + Send + Sync + 'static) -> Database {
        Database {
            storage: salsa::Storage::new(Some(Box::new(on_event))),
        }
    }
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl Db for Database {}

/// Parses one file.
#[salsa::tracked(returns(ref))]
pub fn parse_file(db: &dyn Db, file: SourceFile) -> Parsed {
    if *file.is_stdlib(db) {
        return parse_stdlib(file.path(db), file.text(db));
    }
    parse::parse(file.path(db), file.text(db))
}

/// The standard library's files are the same in every workspace of the process: parsed once,
/// then shared (the tree is behind an `Arc`; only the comments and diagnostics are copied).
fn parse_stdlib(path: &Arc<str>, text: &Arc<str>) -> Parsed {
    type Cache = std::collections::HashMap<Arc<str>, (Arc<str>, Parsed)>;
    static PARSED: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
    let cache = PARSED.get_or_init(Default::default);
    if let Some(p) = cache.lock().ok().and_then(|c| {
        c.get(path)
            .filter(|(t, _)| **t == **text)
            .map(|(_, p)| p.clone())
    }) {
        return p;
    }
    let parsed = parse::parse(path, text);
    if let Ok(mut c) = cache.lock() {
        c.insert(path.clone(), (text.clone(), parsed.clone()));
    }
    parsed
}

/// One item of a file. Queries that look at a single item read it through this query, so that
/// an edit elsewhere in the file (which re-parses it) does not re-run them when this item's
/// tree, spans included, is unchanged.
#[salsa::tracked(returns(ref))]
pub fn item_ast(db: &dyn Db, file: SourceFile, index: u32) -> Option<Arc<crate::ast::Item>> {
    parse_file(db, file).ast.items.get(index as usize).cloned()
}

/// Every diagnostic of one file: syntax, names, types and compliance. Compliance is not
/// reported for a file with syntax errors: its rules may be half read (a rule that lost its
/// condition looks unconditional), and reports on them would be noise. Nor, in any file, about
/// what such a file's policies guard, or about what holds or is guarded by an item with an
/// error ([`crate::compliance::item_failed`]).
#[salsa::tracked(returns(ref))]
pub fn file_diagnostics(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    let mut out = parse_file(db, file).diagnostics.clone();
    let syntax_ok = out.is_empty();
    out.extend(crate::check::check_file(db, project, file).iter().cloned());
    let path = file.path(db);
    out.extend(
        crate::compliance::compliance(db, project)
            .iter()
            .filter(|d| syntax_ok && d.file == *path)
            .cloned(),
    );
    diagnostic::sort(&mut out);
    out.dedup();
    out
}

/// Whether a walk of a folder for `.xop` files leaves out the entry named `name` (`is_dir`: a
/// folder): hidden files and folders (`.git`), and the folders of build outputs and packages
/// (`target`, `node_modules`). `xop check`, `xop fmt` and the language server walk alike, so
/// CI checks the files the editor shows.
pub fn skipped_in_walk(name: &str, is_dir: bool) -> bool {
    name.starts_with('.') || (is_dir && matches!(name, "target" | "node_modules"))
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
        Workspace::with_database(Database::default())
    }

    /// A workspace over a given database (e.g. one made with [`Database::with_events`]).
    pub fn with_database(db: Database) -> Workspace {
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

    /// [`Workspace::set_file`], except that a file new to the workspace takes its place in
    /// path order (component by component, as `xop check` walks a folder in file-name order)
    /// among the files that are not the standard library's, instead of coming last. The
    /// language server adds files this way, so that the order the files are checked in, which
    /// decides where a module declared twice is reported (E0202, on the later file), does not
    /// depend on when each file joined the workspace.
    pub fn set_file_in_path_order(&mut self, path: &str, text: impl Into<Arc<str>>) -> SourceFile {
        if self.file(path).is_some() {
            return self.set_file(path, text);
        }
        let file = SourceFile::new(&self.db, Arc::from(path), text.into(), false);
        let mut files = self.project.files(&self.db).clone();
        let new = std::path::Path::new(path);
        let at = files
            .iter()
            .position(|f| {
                !*f.is_stdlib(&self.db) && std::path::Path::new(&**f.path(&self.db)) > new
            })
            .unwrap_or(files.len());
        files.insert(at, file);
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Editing one item's rule re-runs the checks of that item, not of the other items or files.
    #[test]
    fn an_edit_rechecks_only_what_it_touches() {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = log.clone();
        let db = Database::with_events(move |e| {
            if let salsa::EventKind::WillExecute { database_key } = e.kind {
                sink.lock()
                    .expect("log lock")
                    .push(format!("{database_key:?}"));
            }
        });
        let mut ws = Workspace::with_database(db);
        ws.set_file(
            "a.xop",
            "module a\nrole r\nfn f(x: Int): Bool = x > 1\nfn g(x: Int): Int = x + 1\n",
        );
        ws.set_file("b.xop", "module b\nuse a.g\nfn h(x: Int): Int = g(x)\n");
        // Warnings (unused declarations) are fine; errors would mean the fixture is wrong.
        assert!(
            ws.diagnostics().iter().all(|d| !d.is_error()),
            "{:#?}",
            ws.diagnostics()
        );
        log.lock().expect("log lock").clear();

        ws.set_file(
            "a.xop",
            "module a\nrole r\nfn f(x: Int): Bool = x > 2\nfn g(x: Int): Int = x + 1\n",
        );
        assert!(ws.diagnostics().iter().all(|d| !d.is_error()));
        let ran = log.lock().expect("log lock").clone();
        let item_checks: Vec<&String> =
            ran.iter().filter(|k| k.starts_with("check_item")).collect();
        // Only `f` (item 1 of a.xop) changed; the stdlib, `g` and b.xop's items are reused.
        assert_eq!(item_checks.len(), 1, "re-ran: {ran:#?}");
        assert!(ran.iter().any(|k| k.starts_with("parse_file")));
    }

    /// Files added in path order are checked in that order whenever they were added, so a
    /// module declared twice is reported on the same file (E0202 goes to the later one).
    #[test]
    fn files_added_in_path_order_are_checked_in_path_order() {
        let paths = |ws: &Workspace| -> Vec<String> {
            ws.project()
                .files(ws.db())
                .iter()
                .filter(|f| !*f.is_stdlib(ws.db()))
                .map(|f| f.path(ws.db()).to_string())
                .collect()
        };
        let twice = "module acme.shared\nrole support\n";
        let mut late = Workspace::new();
        for p in ["w/c.xop", "w/b.xop", "w/a/z.xop", "w/a.xop"] {
            late.set_file_in_path_order(p, twice);
        }
        // Replacing a file's text keeps its place.
        late.set_file_in_path_order("w/b.xop", "module b\n");
        assert_eq!(paths(&late), ["w/a/z.xop", "w/a.xop", "w/b.xop", "w/c.xop"]);
        let mut early = Workspace::new();
        for p in ["w/a/z.xop", "w/a.xop", "w/b.xop", "w/c.xop"] {
            early.set_file(p, if p == "w/b.xop" { "module b\n" } else { twice });
        }
        let e0202 = |ws: &Workspace| -> Vec<String> {
            ws.diagnostics()
                .into_iter()
                .filter(|d| d.code == "E0202")
                .map(|d| d.file.to_string())
                .collect()
        };
        assert_eq!(e0202(&late), ["w/a.xop", "w/c.xop"]);
        assert_eq!(e0202(&late), e0202(&early));
    }
}
