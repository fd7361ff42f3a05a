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

use xop_compiler::db::{Database, Project, SourceFile, Workspace, skipped_in_walk};

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
    /// The workspace folders loaded.
    roots: Vec<PathBuf>,
}

/// Whether a folder named `name` is left out of the workspace, as `xop check` leaves it out.
fn skipped_folder(name: &str) -> bool {
    skipped_in_walk(name, true)
}

impl State {
    /// A state with the stdlib only.
    pub fn new(stdlib: StdlibLocation) -> State {
        State {
            ws: Workspace::new(),
            versions: Arc::default(),
            stdlib: Arc::new(stdlib),
            on_disk: HashMap::new(),
            roots: Vec::new(),
        }
    }

    /// Where the stdlib is.
    pub fn stdlib(&self) -> &StdlibLocation {
        &self.stdlib
    }

    /// Loads every `.xop` file under `root` (hidden folders and `target` skipped), so that
    /// `use` of a module declared by a file that is not open resolves. Returns how many.
    pub fn load_folder(&mut self, root: &Path) -> usize {
        if !self.roots.iter().any(|r| r == root) {
            self.roots.push(root.to_path_buf());
        }
        self.scan(root, MAX_FILES)
    }

    /// A folder was created in the workspace, or renamed or moved into it: its `.xop` files
    /// join it, as [`State::load_folder`] loads them, while the workspace holds fewer than
    /// `MAX_FILES` (20,000). Nothing for a folder that is not one, a symbolic link to one, or
    /// one that a workspace folder leaves out (`State::left_out`: a hidden folder, `target`,
    /// `node_modules`, or one inside them). Returns how many were loaded.
    pub fn load_created_folder(&mut self, dir: &Path) -> usize {
        // A symlink to a folder is not followed, as `xop check` does not follow one.
        let is_dir = std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
        if !is_dir || self.left_out(dir, true) {
            return 0;
        }
        let room = MAX_FILES.saturating_sub(self.on_disk.len());
        self.scan(dir, room)
    }

    /// Loads at most `limit` `.xop` files under `root`, warning when there are more.
    fn scan(&mut self, root: &Path, limit: usize) -> usize {
        let mut n = 0;
        // In file-name order, as `xop check` reads a folder (cli/src/files.rs): the compiler
        // reports a module declared twice (E0202) on the later file, so that both agree.
        let walk = walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !skipped_folder(&e.file_name().to_string_lossy()));
        for entry in walk.filter_map(Result::ok) {
            let p = entry.path();
            // A symlink to a file is read, one to a folder is not followed: as `xop check`
            // reads a folder (cli/src/files.rs).
            let kind = entry.file_type();
            let is_file = kind.is_file() || (kind.is_symlink() && p.is_file());
            if !is_file || p.extension().is_none_or(|e| e != "xop") {
                continue;
            }
            if self.stdlib.stdlib_path(p).is_some() {
                continue;
            }
            if n >= limit {
                eprintln!(
                    "xop lsp: warning: {} holds more .xop files than the workspace takes \
                     ({MAX_FILES} in all); the others are left out",
                    root.display()
                );
                break;
            }
            let Ok(text) = std::fs::read_to_string(p) else {
                continue;
            };
            let path = p.to_string_lossy().into_owned();
            if !self.versions.contains_key(&path) {
                self.ws.set_file_in_path_order(&path, text);
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
        self.ws.set_file_in_path_order(path, text);
    }

    /// A document changed: `edit` turns its current text into the new one.
    pub fn change(&mut self, path: &str, version: i32, edit: impl FnOnce(&str) -> String) {
        if self.is_stdlib(path) {
            return;
        }
        let old = self.ws.source(path).unwrap_or_default();
        let new = edit(&old);
        Arc::make_mut(&mut self.versions).insert(path.to_string(), version);
        self.ws.set_file_in_path_order(path, new);
    }

    /// A document was closed: back to the disk's text for a workspace file, gone otherwise.
    ///
    /// A workspace file is one read from disk by a scan or a watcher's event, or one the
    /// editor created and saved inside a workspace folder since (an editor that does not
    /// watch files reports no event for it): whichever exists on disk is read back.
    pub fn close(&mut self, path: &str) {
        Arc::make_mut(&mut self.versions).remove(path);
        if self.is_stdlib(path) {
            return;
        }
        let fs_path = self
            .on_disk
            .get(path)
            .cloned()
            .or_else(|| self.in_workspace_folder(path));
        match fs_path.and_then(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t))) {
            Some((p, text)) => {
                self.ws.set_file_in_path_order(path, text);
                self.on_disk.insert(path.to_string(), p);
            }
            None => {
                self.ws.remove_file(path);
                self.on_disk.remove(path);
            }
        }
    }

    /// Whether the walk of a workspace folder leaves `p` out, as `xop check` leaves it out
    /// ([`xop_compiler::db::skipped_in_walk`]): a hidden file or folder, or one in a hidden
    /// folder, `target` or `node_modules`. Read relative to the innermost workspace folder
    /// that holds `p` (the folder's own path may well be under `target` or hidden); for a
    /// path in no workspace folder, only its own name is read. `is_dir`: `p` is a folder.
    fn left_out(&self, p: &Path, is_dir: bool) -> bool {
        // The innermost workspace folder holding `p`: a workspace folder may itself be under
        // `node_modules` of another one, and its own files are loaded.
        let rel = self
            .roots
            .iter()
            .filter_map(|r| p.strip_prefix(r).ok())
            .min_by_key(|rel| rel.components().count())
            .unwrap_or_else(|| Path::new(p.file_name().unwrap_or_default()));
        let names: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let Some((own, folders)) = names.split_last() else {
            return false;
        };
        folders.iter().any(|n| skipped_in_walk(n, true)) || skipped_in_walk(own, is_dir)
    }

    /// The file `path` names, when it is a `.xop` file inside a workspace folder that a scan
    /// would load ([`State::left_out`] says not); `None` for a URI.
    fn in_workspace_folder(&self, path: &str) -> Option<PathBuf> {
        if is_uri(path) {
            return None;
        }
        let p = Path::new(path);
        if p.extension().is_none_or(|e| e != "xop") {
            return None;
        }
        if !self.roots.iter().any(|r| p.starts_with(r)) || self.left_out(p, false) {
            return None;
        }
        Some(p.to_path_buf())
    }

    /// A workspace file changed on disk (created, edited or deleted by another program): the
    /// database follows, unless the editor has it open (the editor's text wins until it is
    /// closed; whether the file is on disk is still recorded, for [`State::close`]). A file
    /// the workspace walk leaves out (`State::left_out`: under `node_modules`, `target` or
    /// a hidden folder, or hidden itself) never joins: an open document there stays only
    /// until it is closed.
    pub fn reload(&mut self, path: &str, fs_path: &Path) {
        if self.is_stdlib(path) {
            return;
        }
        if self.left_out(fs_path, false) {
            self.on_disk.remove(path);
            return;
        }
        let open = self.versions.contains_key(path);
        match std::fs::read_to_string(fs_path) {
            Ok(text) => {
                if !open {
                    self.ws.set_file_in_path_order(path, text);
                }
                self.on_disk.insert(path.to_string(), fs_path.to_path_buf());
            }
            Err(_) => {
                if !open {
                    self.ws.remove_file(path);
                }
                self.on_disk.remove(path);
            }
        }
    }

    /// A folder was deleted (or moved away): its files leave the workspace, but those the
    /// editor has open, which stay until closed.
    pub fn forget_folder(&mut self, dir: &Path) {
        let under: Vec<(String, PathBuf)> = self
            .on_disk
            .iter()
            .filter(|(_, p)| p.starts_with(dir))
            .map(|(path, p)| (path.clone(), p.clone()))
            .collect();
        for (path, p) in under {
            self.reload(&path, &p);
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

    /// Whether `file` is a file of the workspace, which workspace-wide features (rename's
    /// edits, find references, workspace symbols) work on: not the stdlib, and not a document
    /// of another scheme than `file:` (an `untitled:` buffer, a diff view's `git:` copy of a
    /// file), which may be read-only and duplicates a file when it is a copy.
    pub fn is_workspace_file(&self, file: SourceFile) -> bool {
        !self.is_stdlib(file) && !is_uri(&self.path(file))
    }
}

/// Whether `path` is a URI rather than a path: a document of a scheme other than `file:`
/// keeps its URI as its path ([`crate::convert::path_of`]). A scheme is two characters or
/// more, so that a Windows drive (`C:\…`) is a path.
pub fn is_uri(path: &str) -> bool {
    path.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() >= 2
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_documents_win_over_the_disk_until_closed() {
        let dir = empty_dir("state");
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

    #[test]
    fn a_deleted_folder_takes_its_files_along_but_the_open_ones() {
        let dir = empty_dir("folder");
        let sub = dir.join("sub");
        std::fs::create_dir_all(sub.join("deeper")).expect("temp dir");
        let [a, b, c] = [
            dir.join("a.xop"),
            sub.join("b.xop"),
            sub.join("deeper/c.xop"),
        ];
        for (p, m) in [(&a, "a"), (&b, "b"), (&c, "c")] {
            std::fs::write(p, format!("module {m}\n")).expect("write");
        }
        let mut st = State::new(StdlibLocation::Scheme);
        assert_eq!(st.load_folder(&dir), 3);
        let path = |p: &Path| p.to_string_lossy().into_owned();
        st.open(&path(&c), "module c2\n", 1);
        std::fs::remove_dir_all(&sub).expect("remove");
        st.forget_folder(&sub);
        assert_eq!(
            st.workspace().source(&path(&a)).as_deref(),
            Some("module a\n")
        );
        assert_eq!(st.workspace().source(&path(&b)), None);
        assert_eq!(
            st.workspace().source(&path(&c)).as_deref(),
            Some("module c2\n")
        );
        // Closed, the open one goes too: it is no longer on disk.
        st.close(&path(&c));
        assert_eq!(st.workspace().source(&path(&c)), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_created_or_moved_in_folder_brings_its_files_but_hidden_ones() {
        let dir = empty_dir("created");
        let mut st = State::new(StdlibLocation::Scheme);
        assert_eq!(st.load_folder(&dir), 0);
        // `lib` is moved in with a file, a hidden folder and a `target` in it.
        let lib = dir.join("lib");
        for sub in ["deeper", ".cache", "target"] {
            std::fs::create_dir_all(lib.join(sub)).expect("dir");
            std::fs::write(lib.join(sub).join("m.xop"), "module m\n").expect("write");
        }
        std::fs::write(lib.join("a.xop"), "module a\n").expect("write");
        let path = |p: &Path| p.to_string_lossy().into_owned();
        assert_eq!(st.load_created_folder(&lib), 2);
        assert_eq!(
            st.workspace().source(&path(&lib.join("a.xop"))).as_deref(),
            Some("module a\n")
        );
        assert!(
            st.workspace()
                .source(&path(&lib.join(".cache/m.xop")))
                .is_none()
        );
        // A folder created inside a hidden one or `target`, or a file: nothing.
        std::fs::create_dir_all(dir.join(".git/objects")).expect("dir");
        std::fs::write(dir.join(".git/objects/x.xop"), "module x\n").expect("write");
        assert_eq!(st.load_created_folder(&dir.join(".git/objects")), 0);
        assert_eq!(st.load_created_folder(&lib.join("target")), 0);
        assert_eq!(st.load_created_folder(&lib.join("a.xop")), 0);
        // The number of files is capped.
        let more = dir.join("more");
        std::fs::create_dir_all(&more).expect("dir");
        for i in 0..3 {
            std::fs::write(more.join(format!("f{i}.xop")), format!("module f{i}\n"))
                .expect("write");
        }
        assert_eq!(st.scan(&more, 2), 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_file_created_in_the_editor_saved_and_closed_stays() {
        let dir = empty_dir("saved");
        std::fs::create_dir_all(dir.join(".hidden")).expect("temp dir");
        let mut st = State::new(StdlibLocation::Scheme);
        assert_eq!(st.load_folder(&dir), 0);
        let path = |p: &Path| p.to_string_lossy().into_owned();
        // Created in the editor, saved (the watcher reports it), closed: read back from disk.
        let new = dir.join("new.xop");
        st.open(&path(&new), "module new\n", 1);
        std::fs::write(&new, "module new\n").expect("write");
        st.reload(&path(&new), &new);
        st.close(&path(&new));
        assert_eq!(
            st.workspace().source(&path(&new)).as_deref(),
            Some("module new\n")
        );
        // Outside the workspace folders, the watcher's event alone tells that it is on disk.
        let mut rootless = State::new(StdlibLocation::Scheme);
        let other = dir.join("other.xop");
        rootless.open(&path(&other), "module other\n", 1);
        std::fs::write(&other, "module other\n").expect("write");
        rootless.reload(&path(&other), &other);
        rootless.close(&path(&other));
        assert_eq!(
            rootless.workspace().source(&path(&other)).as_deref(),
            Some("module other\n")
        );
        // Saved without a watcher's event: read back too, being in the workspace folder.
        let quiet = dir.join("quiet.xop");
        st.open(&path(&quiet), "module quiet\n", 1);
        std::fs::write(&quiet, "module quiet\n").expect("write");
        st.close(&path(&quiet));
        assert_eq!(
            st.workspace().source(&path(&quiet)).as_deref(),
            Some("module quiet\n")
        );
        // Never saved, or saved in a hidden folder a scan leaves out: gone.
        let unsaved = dir.join("unsaved.xop");
        let hidden = dir.join(".hidden/h.xop");
        std::fs::write(&hidden, "module h\n").expect("write");
        for p in [&unsaved, &hidden] {
            st.open(&path(p), "module x\n", 1);
            st.close(&path(p));
            assert_eq!(st.workspace().source(&path(p)), None, "{}", p.display());
        }
        // Deleted while open (the watcher reports it), then closed: gone.
        st.open(&path(&new), "module new2\n", 2);
        std::fs::remove_file(&new).expect("remove");
        st.reload(&path(&new), &new);
        assert_eq!(
            st.workspace().source(&path(&new)).as_deref(),
            Some("module new2\n")
        );
        st.close(&path(&new));
        assert_eq!(st.workspace().source(&path(&new)), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn files_the_walk_leaves_out_never_join_from_the_watcher() {
        let dir = empty_dir("skipped");
        let mut st = State::new(StdlibLocation::Scheme);
        assert_eq!(st.load_folder(&dir), 0);
        let path = |p: &Path| p.to_string_lossy().into_owned();
        for name in [
            "node_modules/pkg/z.xop",
            "target/gen/z.xop",
            ".cache/z.xop",
            "lib/.z.xop",
            ".z.xop",
        ] {
            let f = dir.join(name);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("dir");
            std::fs::write(&f, "module z\n").expect("write");
            // Created or changed on disk, as a watcher reports it: not read.
            st.reload(&path(&f), &f);
            assert_eq!(st.workspace().source(&path(&f)), None, "{name}");
            // Open, it is checked while open, and leaves when closed (watcher or not).
            st.open(&path(&f), "module z2\n", 1);
            st.reload(&path(&f), &f);
            assert_eq!(
                st.workspace().source(&path(&f)).as_deref(),
                Some("module z2\n"),
                "{name}"
            );
            st.close(&path(&f));
            assert_eq!(st.workspace().source(&path(&f)), None, "{name}");
        }
        // A file whose own name only looks like a skipped folder is read.
        let f = dir.join("target.xop");
        std::fs::write(&f, "module t\n").expect("write");
        st.reload(&path(&f), &f);
        assert_eq!(
            st.workspace().source(&path(&f)).as_deref(),
            Some("module t\n")
        );
        // The workspace folder itself may be anywhere, a hidden folder included.
        let hidden_root = dir.join(".ws");
        std::fs::create_dir_all(&hidden_root).expect("dir");
        let mut inside = State::new(StdlibLocation::Scheme);
        inside.load_folder(&hidden_root);
        let g = hidden_root.join("g.xop");
        std::fs::write(&g, "module g\n").expect("write");
        inside.reload(&path(&g), &g);
        assert_eq!(
            inside.workspace().source(&path(&g)).as_deref(),
            Some("module g\n")
        );
        // A workspace folder inside another's `node_modules`: its files are its own.
        let mut nested = State::new(StdlibLocation::Scheme);
        nested.load_folder(&dir);
        let pkg = dir.join("node_modules/pkg");
        nested.load_folder(&pkg);
        let n = pkg.join("n.xop");
        std::fs::write(&n, "module n\n").expect("write");
        nested.reload(&path(&n), &n);
        assert_eq!(
            nested.workspace().source(&path(&n)).as_deref(),
            Some("module n\n")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_a_file_is_read_but_one_to_a_folder_is_not_followed() {
        let dir = empty_dir("symlink");
        let (ws, outside) = (dir.join("ws"), dir.join("outside"));
        std::fs::create_dir_all(ws.join("sub")).expect("dir");
        std::fs::create_dir_all(outside.join("deep")).expect("dir");
        std::fs::write(outside.join("l.xop"), "module l\n").expect("write");
        std::fs::write(outside.join("deep/d.xop"), "module d\n").expect("write");
        let link = |to: &str, at: &Path| {
            std::os::unix::fs::symlink(outside.join(to), at).expect("symlink")
        };
        link("l.xop", &ws.join("l.xop"));
        link("deep", &ws.join("linked"));
        link("l.xop", &ws.join("sub/l2.xop"));
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let mut st = State::new(StdlibLocation::Scheme);
        assert_eq!(st.load_folder(&ws), 2);
        assert_eq!(
            st.workspace().source(&path(&ws.join("l.xop"))).as_deref(),
            Some("module l\n")
        );
        assert_eq!(st.workspace().source(&path(&ws.join("linked/d.xop"))), None);
        // The same for a folder created (or moved in) later, and a linked folder created.
        let mut later = State::new(StdlibLocation::Scheme);
        std::fs::create_dir_all(dir.join("empty")).expect("dir");
        later.load_folder(&dir.join("empty"));
        assert_eq!(later.load_created_folder(&ws.join("sub")), 1);
        assert_eq!(later.load_created_folder(&ws.join("linked")), 0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_folder_is_read_in_file_name_order_as_xop_check_reads_it() {
        let dir = empty_dir("order");
        std::fs::create_dir_all(dir.join("a")).expect("temp dir");
        // Written out of order, so that the directory's own order is unlikely to be sorted.
        for name in ["d.xop", "b.xop", "a/z.xop", "c.xop", "a.xop"] {
            std::fs::write(dir.join(name), "module one\n").expect("write");
        }
        let mut st = State::new(StdlibLocation::Scheme);
        assert_eq!(st.load_folder(&dir), 5);
        let snap = st.snapshot();
        let order: Vec<String> = snap
            .files()
            .into_iter()
            .filter(|f| !snap.is_stdlib(*f))
            .map(|f| {
                let p = snap.path(f);
                Path::new(&*p)
                    .strip_prefix(&dir)
                    .map(|r| r.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(order, ["a/z.xop", "a.xop", "b.xop", "c.xop", "d.xop"]);
        // So a module declared twice is reported on the later files, as `xop check` does.
        let e0202: Vec<String> = st
            .workspace()
            .diagnostics()
            .into_iter()
            .filter(|d| d.code == "E0202")
            .map(|d| d.file.to_string())
            .collect();
        assert!(
            !e0202.iter().any(|p| p.ends_with("a/z.xop")),
            "E0202 on the first file: {e0202:?}"
        );
        drop(snap);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A file that joins the workspace after the start (opened without being on disk, or
    /// created in a new folder) takes its place in file-name order, so E0202 lands where
    /// `xop check` puts it: on every file of the module but the first.
    #[test]
    fn a_file_joining_later_takes_its_place_in_file_name_order() {
        let dir = empty_dir("join");
        for name in ["b.xop", "c.xop"] {
            std::fs::write(dir.join(name), "module one\n").expect("write");
        }
        let mut st = State::new(StdlibLocation::Scheme);
        assert_eq!(st.load_folder(&dir), 2);
        let e0202 = |st: &State| -> Vec<String> {
            let mut v: Vec<String> = st
                .workspace()
                .diagnostics()
                .into_iter()
                .filter(|d| d.code == "E0202")
                .filter_map(|d| {
                    Path::new(&*d.file)
                        .strip_prefix(&dir)
                        .ok()
                        .map(|r| r.to_string_lossy().into_owned())
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(e0202(&st), ["c.xop"]);
        // Opened in the editor, not on disk: first in file-name order.
        let opened = dir.join("a.xop").to_string_lossy().into_owned();
        st.open(&opened, "module one\n", 1);
        assert_eq!(e0202(&st), ["b.xop", "c.xop"]);
        st.close(&opened);
        // A folder created on disk: `0/z.xop` comes before `b.xop`.
        std::fs::create_dir_all(dir.join("0")).expect("folder");
        std::fs::write(dir.join("0/z.xop"), "module one\n").expect("write");
        assert_eq!(st.load_created_folder(&dir.join("0")), 1);
        assert_eq!(e0202(&st), ["b.xop", "c.xop"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A new empty folder for one test, named after it (`tag`) and this process.
    fn empty_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xop-lsp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn uris_are_told_from_paths() {
        assert!(is_uri("git:/w/a.xop?%7B%7D") && is_uri("untitled:Untitled-1"));
        assert!(!is_uri("/w/a.xop") && !is_uri("a.xop") && !is_uri("C:\\w\\a.xop"));
    }
}
