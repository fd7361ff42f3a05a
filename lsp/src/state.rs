//! The server's state: the compiler's [`Workspace`] (one salsa database for every file of
//! the workspace folders, the open documents and the stdlib), which documents are open at
//! which version, and read-only [`Snapshot`]s of it for requests.
//!
//! Writes happen under the state's lock, synchronously, in the order the notifications
//! arrive. A write cancels the queries running on snapshots and waits until every snapshot is
//! dropped (salsa's rule), so a snapshot goes straight from the handler that takes it to the
//! blocking task that uses it, and lives no longer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use xop_compiler::db::{Database, Project, SourceFile, Workspace};

use crate::stdlib::StdlibLocation;

/// The most `.xop` files loaded from the workspace folders.
const MAX_FILES: usize = 20_000;

/// The mutable state of the server.
pub struct State {
    ws: Workspace,
    /// Open documents (by path) and their versions.
    versions: Arc<HashMap<String, i32>>,
    /// Where the stdlib files are for the editor.
    stdlib: Arc<StdlibLocation>,
    /// Workspace files as read from disk, to return to when their document is closed.
    on_disk: HashMap<String, PathBuf>,
}

impl State {
    /// A state with the stdlib only.
    pub fn new(stdlib: StdlibLocation) -> State {
        State {
            ws: Workspace::new(),
            versions: Arc::default(),
            stdlib: Arc::new(stdlib),
            on_disk: HashMap::new(),
        }
    }

    /// Where the stdlib is.
    pub fn stdlib(&self) -> &StdlibLocation {
        &self.stdlib
    }

    /// Loads every `.xop` file under `root` (hidden folders and `target` skipped), so that
    /// `use` of a module declared by a file that is not open resolves. Returns how many.
    pub fn load_folder(&mut self, root: &Path) -> usize {
        let mut n = 0;
        let walk = walkdir::WalkDir::new(root).into_iter().filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            e.depth() == 0 || !(name.starts_with('.') || name == "target" || name == "node_modules")
        });
        for entry in walk.filter_map(Result::ok) {
            if n >= MAX_FILES {
                break;
            }
            let p = entry.path();
            if !entry.file_type().is_file() || p.extension().is_none_or(|e| e != "xop") {
                continue;
            }
            if self.stdlib.stdlib_path(p).is_some() {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(p) else {
                continue;
            };
            let path = p.to_string_lossy().into_owned();
            if !self.versions.contains_key(&path) {
                self.ws.set_file(&path, text);
            }
            self.on_disk.insert(path, p.to_path_buf());
            n += 1;
        }
        n
    }

    /// A document was opened with `text` at `version`.
    pub fn open(&mut self, path: &str, text: &str, version: i32) {
        if self.is_stdlib(path) {
            return;
        }
        Arc::make_mut(&mut self.versions).insert(path.to_string(), version);
        self.ws.set_file(path, text);
    }

    /// A document changed: `edit` turns its current text into the new one.
    pub fn change(&mut self, path: &str, version: i32, edit: impl FnOnce(&str) -> String) {
        if self.is_stdlib(path) {
            return;
        }
        let old = self.ws.source(path).unwrap_or_default();
        let new = edit(&old);
        Arc::make_mut(&mut self.versions).insert(path.to_string(), version);
        self.ws.set_file(path, new);
    }

    /// A document was closed: back to the disk's text for a workspace file, gone otherwise.
    pub fn close(&mut self, path: &str) {
        Arc::make_mut(&mut self.versions).remove(path);
        if self.is_stdlib(path) {
            return;
        }
        match self
            .on_disk
            .get(path)
            .and_then(|p| std::fs::read_to_string(p).ok())
        {
            Some(text) => {
                self.ws.set_file(path, text);
            }
            None => self.ws.remove_file(path),
        }
    }

    /// A workspace file changed on disk (created, edited or deleted by another program): the
    /// database follows, unless the editor has it open (the editor's text wins).
    pub fn reload(&mut self, path: &str, fs_path: &Path) {
        if self.versions.contains_key(path) || self.is_stdlib(path) {
            return;
        }
        match std::fs::read_to_string(fs_path) {
            Ok(text) => {
                self.ws.set_file(path, text);
                self.on_disk.insert(path.to_string(), fs_path.to_path_buf());
            }
            Err(_) => {
                self.ws.remove_file(path);
                self.on_disk.remove(path);
            }
        }
    }

    fn is_stdlib(&self, path: &str) -> bool {
        self.ws
            .file(path)
            .is_some_and(|f| *f.is_stdlib(self.ws.db()))
    }

    /// A read-only view for one request.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            db: self.ws.db().clone(),
            project: self.ws.project(),
            versions: self.versions.clone(),
            stdlib: self.stdlib.clone(),
        }
    }

    /// The workspace, for tests and benchmarks.
    pub fn workspace(&self) -> &Workspace {
        &self.ws
    }
}

/// A read-only view of the state: a clone of the database and what else requests need.
pub struct Snapshot {
    /// The database (a salsa clone: cheap, and cancelled by the next write).
    pub db: Database,
    /// The project input.
    pub project: Project,
    /// Open documents and their versions.
    pub versions: Arc<HashMap<String, i32>>,
    /// Where the stdlib is.
    pub stdlib: Arc<StdlibLocation>,
}

impl Snapshot {
    /// The file at `path`.
    pub fn file(&self, path: &str) -> Option<SourceFile> {
        self.project
            .files(&self.db)
            .iter()
            .copied()
            .find(|f| &**f.path(&self.db) == path)
    }

    /// Every file of the project, the stdlib included.
    pub fn files(&self) -> Vec<SourceFile> {
        self.project.files(&self.db).clone()
    }

    /// The text of `file`.
    pub fn text(&self, file: SourceFile) -> Arc<str> {
        file.text(&self.db).clone()
    }

    /// The path of `file`.
    pub fn path(&self, file: SourceFile) -> Arc<str> {
        file.path(&self.db).clone()
    }

    /// Whether `file` is part of the stdlib.
    pub fn is_stdlib(&self, file: SourceFile) -> bool {
        *file.is_stdlib(&self.db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_documents_win_over_the_disk_until_closed() {
        let dir = std::env::temp_dir().join(format!("xop-lsp-state-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".hidden")).expect("temp dir");
        let a = dir.join("a.xop");
        std::fs::write(&a, "module a\n").expect("write");
        std::fs::write(dir.join(".hidden/b.xop"), "module b\n").expect("write");
        let mut st = State::new(StdlibLocation::Scheme);
        assert_eq!(st.load_folder(&dir), 1, "hidden folders are skipped");
        let path = a.to_string_lossy().into_owned();
        st.open(&path, "module a2\n", 3);
        assert_eq!(st.snapshot().versions.get(&path), Some(&3));
        // A change on disk does not replace the open document...
        std::fs::write(&a, "module a3\n").expect("write");
        st.reload(&path, &a);
        assert_eq!(st.workspace().source(&path).as_deref(), Some("module a2\n"));
        st.change(&path, 4, |old| old.replace("a2", "a4"));
        assert_eq!(st.workspace().source(&path).as_deref(), Some("module a4\n"));
        // ...closing it goes back to the disk's text, and a deleted file goes away.
        st.close(&path);
        assert_eq!(st.workspace().source(&path).as_deref(), Some("module a3\n"));
        std::fs::remove_file(&a).expect("remove");
        st.reload(&path, &a);
        assert_eq!(st.workspace().source(&path), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
