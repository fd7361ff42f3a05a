//! Finding and reading the `.xop` files named on the command line, shared by every verb.
//!
//! A path that names a file is taken as is, whatever its extension. A path that names a folder
//! is searched recursively for `*.xop` files, in file-name order, skipping hidden entries (whose
//! name starts with `.`) and folders named `target` or `node_modules`, as the language server
//! does; symbolic links to folders are not followed.
//! A file reached twice (named twice, or named and found in a folder) is read once.
//!
//! Paths are shown as the user wrote them: `xop check src` reports `src/a.xop`, and the default
//! `.` reports `a.xop` rather than `./a.xop`. The compiler knows each file by that name, so a
//! source whose path is not valid UTF-8 is refused: shown, its invalid bytes all become `�`,
//! and two such files could take one name (the second replacing the first).
//!
//! Files are written by [`write_atomically`]: whole, or not at all.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use walkdir::WalkDir;

/// A source file read from disk.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// Where to read and write it.
    pub path: PathBuf,
    /// How to name it in messages and diagnostics.
    pub display: String,
    /// Its whole text.
    pub text: String,
}

/// Finds and reads every `.xop` file under `paths`.
///
/// On failure, returns one message per problem (without the `error: ` prefix): a path that does
/// not exist, a folder or file that cannot be read, a file that is not UTF-8, or no `.xop` file
/// found at all.
pub fn load(paths: &[PathBuf]) -> Result<Vec<SourceText>, Vec<String>> {
    let mut errors = Vec::new();
    let mut found: Vec<(PathBuf, String)> = Vec::new();
    for root in paths {
        discover(root, &mut found, &mut errors);
    }
    let mut seen = HashSet::new();
    // The compiler keys files by their shown name: two files must never share one.
    let mut names: HashMap<String, PathBuf> = HashMap::new();
    let mut files = Vec::new();
    for (path, display) in found {
        let key = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            continue;
        }
        if let Some(first) = names.insert(display.clone(), path.clone()) {
            errors.push(format!(
                "`{}` and `{}` are both named `{display}`: rename one of them",
                first.to_string_lossy(),
                path.to_string_lossy()
            ));
            continue;
        }
        match read_named(&path, &display) {
            Ok(text) => files.push(SourceText {
                path,
                display,
                text,
            }),
            Err(message) => errors.push(message),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if files.is_empty() {
        let roots: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
        return Err(vec![format!(
            "no `.xop` files found in {}",
            roots.join(", ")
        )]);
    }
    Ok(files)
}

/// The files [`load`] would read from `paths`, without reading them (what cannot be found or
/// read is left out: [`load`] reports it).
pub fn find(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for root in paths {
        discover(root, &mut found, &mut errors);
    }
    found.into_iter().map(|(path, _)| path).collect()
}

/// The message for a file or folder that cannot be read.
pub fn cannot_read(display: &str, reason: &str) -> String {
    format!("cannot read `{display}`: {reason}")
}

/// Reads a file as UTF-8 text; the error names the file and says what went wrong.
pub fn read_text(path: &Path) -> Result<String, String> {
    read_named(path, &path.display().to_string())
}

/// [`read_text`], naming the file `display` in the error.
fn read_named(path: &Path, display: &str) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| cannot_read(display, &reason(&e)))?;
    if bytes.starts_with(xop_runtime::module::MAGIC) {
        return Err(format!(
            "`{display}` is a compiled module, not a source file: give it alone, as the only path \
             (`xop eval {display} --policy NAME --input FILE`, `xop test {display}`)"
        ));
    }
    utf8(bytes).map_err(|why| cannot_read(display, &why))
}

/// Whether `path` is a file that starts as a compiled module does (whatever its name).
pub fn is_module(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == xop_runtime::module::MAGIC
}

/// Reads UTF-8 text from `path`, or from standard input when `path` is `-`; the error names
/// the file and says what went wrong.
pub fn read_text_or_stdin(path: &Path) -> Result<String, String> {
    if path.as_os_str() != "-" {
        return read_text(path);
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
        .map_err(|e| format!("cannot read standard input: {}", reason(&e)))?;
    utf8(bytes).map_err(|why| format!("cannot read standard input: {why}"))
}

/// Decodes UTF-8 text; the error says where the first invalid byte is.
pub fn utf8(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let (line, column) = xop_runtime::bind::line_column(bytes, at);
        format!(
            "not valid UTF-8 (byte 0x{:02x} at line {line}, column {column}); save it as UTF-8",
            bytes[at]
        )
    })
}

pub use xop_runtime::io::reason;

/// The message for a source whose path is not valid UTF-8, naming it with each invalid byte
/// written `\xFF` (so that two such names are told apart, and can be typed to rename them).
fn not_utf8_name(path: &Path) -> String {
    let mut shown = String::new();
    for chunk in path.as_os_str().as_encoded_bytes().utf8_chunks() {
        shown.push_str(chunk.valid());
        for byte in chunk.invalid() {
            shown.push_str(&format!("\\x{byte:02X}"));
        }
    }
    format!(
        "the path `{shown}` is not valid UTF-8 (each `\\xNN` shows a byte that is not): rename \
         it; sources are named by their paths, as text, in diagnostics and modules"
    )
}

/// Adds the files named by `root` (a file, or a folder to search) to `found`.
fn discover(root: &Path, found: &mut Vec<(PathBuf, String)>, errors: &mut Vec<String>) {
    if root.to_str().is_none() {
        errors.push(not_utf8_name(root));
        return;
    }
    let shown = root.display().to_string();
    let meta = match fs::metadata(root) {
        Ok(meta) => meta,
        Err(e) => {
            errors.push(cannot_read(&shown, &reason(&e)));
            return;
        }
    };
    if meta.is_file() {
        found.push((root.to_path_buf(), shown));
        return;
    }
    if !meta.is_dir() {
        errors.push(cannot_read(&shown, "not a file or a folder"));
        return;
    }
    let walker = WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !skipped(e));
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().unwrap_or(root);
                let why = match e.io_error() {
                    Some(io) => reason(io),
                    None => e.to_string(),
                };
                errors.push(cannot_read(&display_under(root, path), &why));
                continue;
            }
        };
        if entry.depth() == 0 {
            continue;
        }
        let path = entry.path();
        let is_file =
            entry.file_type().is_file() || (entry.file_type().is_symlink() && path.is_file());
        if is_file && path.extension().is_some_and(|ext| ext == "xop") {
            if path.to_str().is_none() {
                errors.push(not_utf8_name(&strip_dot(root, path)));
                continue;
            }
            found.push((strip_dot(root, path), display_under(root, path)));
        }
    }
}

/// Whether the walk skips this entry ([`xop_compiler::db::skipped_in_walk`]): hidden files
/// and folders, `target` and `node_modules` folders.
fn skipped(entry: &walkdir::DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy();
    xop_compiler::db::skipped_in_walk(&name, entry.file_type().is_dir())
}

/// A found path without the `./` that walking from `.` puts in front.
fn strip_dot(root: &Path, path: &Path) -> PathBuf {
    let mut components = root.components();
    if components.next() == Some(Component::CurDir)
        && components.next().is_none()
        && let Ok(rest) = path.strip_prefix(".")
    {
        return rest.to_path_buf();
    }
    path.to_path_buf()
}

fn display_under(root: &Path, path: &Path) -> String {
    strip_dot(root, path).display().to_string()
}

/// Writes `bytes` to `path` so that it is either left as it was or holds all of them: into a
/// new file in the same folder, then renamed over it, so that a failed write (a full disk)
/// never leaves it truncated. A file replaced keeps its permissions (and, when allowed, its
/// owner); through a link, the file linked to is replaced. A character device (`/dev/null`)
/// is written to as it is; any other special file (a named pipe, a socket), or a folder, is
/// refused: writing a pipe would wait for a reader, and nothing can be renamed over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let existing = fs::metadata(path).ok();
    if let Some(meta) = &existing
        && !meta.is_file()
    {
        return match special(meta) {
            None => fs::write(path, bytes),
            Some(what) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("it is {what}, not a file"),
            )),
        };
    }
    let target = match existing {
        Some(_) => fs::canonicalize(path)?,
        None => path.to_path_buf(),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // A new file beside the target (removed if anything below fails), renamed over it.
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // A new file gets what `fs::write` would give it (0666 less the umask), not a temporary
    // file's 0600; an existing one keeps its own, set below.
    #[cfg(unix)]
    if existing.is_none() {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder.tempfile_in(folder)?;
    temp.write_all(bytes)?;
    if let Some(meta) = &existing {
        temp.as_file().set_permissions(meta.permissions())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let _ = std::os::unix::fs::fchown(temp.as_file(), Some(meta.uid()), Some(meta.gid()));
        }
    }
    temp.as_file().sync_all()?;
    temp.persist(&target).map(drop).map_err(|e| e.error)
}

/// What a path that is neither a file nor a character device is (`a named pipe (FIFO)`), for
/// a message; `None` for a character device, which is written to as it is.
pub fn special(meta: &fs::Metadata) -> Option<&'static str> {
    if meta.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() {
            return None;
        }
        if t.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
    }
    Some("a special file")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new empty folder for one test, removed at the end.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let path =
                std::env::temp_dir().join(format!("xop-files-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Scratch(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn writes_a_new_file_and_replaces_one_whole() {
        let dir = Scratch::new("replace");
        let path = dir.0.join("a.xop");
        write_atomically(&path, b"one").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_atomically(&path, b"two, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two, longer");
        // Nothing is left beside it.
        assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 1);
    }

    #[cfg(unix)]
    /// A new file is as readable as one `fs::write` makes (a module others load), not a
    /// temporary file's owner-only 0600.
    #[cfg(unix)]
    #[test]
    fn a_new_file_gets_the_usual_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new("new-mode");
        let usual = dir.0.join("usual");
        fs::write(&usual, b"x").unwrap();
        let path = dir.0.join("m.xopm");
        write_atomically(&path, b"module").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&usual));
    }

    #[test]
    fn keeps_permissions_and_replaces_the_file_linked_to() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new("link");
        let real = dir.0.join("real.xop");
        fs::write(&real, "old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.0.join("link.xop");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
        let mode = fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    /// A named pipe is refused at once: opening it to write would wait for a reader.
    #[cfg(unix)]
    #[test]
    fn a_named_pipe_is_refused() {
        let dir = Scratch::new("fifo");
        let fifo = dir.0.join("m.xopm");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: no mkfifo");
            return;
        }
        // In a thread: should it open the pipe, a reader opened here lets it (and the test) end.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || tx.send(write_atomically(&path, b"module")));
        let Ok(result) = rx.recv_timeout(std::time::Duration::from_secs(20)) else {
            let _ = fs::read(&fifo);
            panic!("write_atomically waited for a reader of the named pipe");
        };
        let e = result.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("named pipe"), "{e}");
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    /// `/dev/null` is written to as it is.
    #[cfg(unix)]
    #[test]
    fn a_character_device_is_written_as_it_is() {
        use std::os::unix::fs::FileTypeExt;
        write_atomically(Path::new("/dev/null"), b"module").unwrap();
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}
